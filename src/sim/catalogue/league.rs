//! The synthetic league behind the catalogue: 30 teams, stable rosters, and a day's events
//! and offers drawn from a seeded generator, shaped like the real API's.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use super::SimDay;
use crate::calendar::GameDate;
use crate::market::MarketType;

/// A small deterministic generator (splitmix64): no dependency, same seed, same sequence.
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.range(0, i as u64) as usize);
        }
    }
}

/// An NBA team as the site names it.
#[derive(Clone, Copy)]
struct Team {
    abbr: &'static str,
    /// The name in links (`Golden State`), not always the arena's city.
    place: &'static str,
    nickname: &'static str,
    arena: &'static str,
    city: &'static str,
    state: &'static str,
}

const fn team(
    abbr: &'static str,
    place: &'static str,
    nickname: &'static str,
    arena: &'static str,
    city: &'static str,
    state: &'static str,
) -> Team {
    Team {
        abbr,
        place,
        nickname,
        arena,
        city,
        state,
    }
}

#[rustfmt::skip]
const TEAMS: [Team; 30] = [
    team("ATL", "Atlanta", "Hawks", "State Farm Arena", "Atlanta", "GA"),
    team("BOS", "Boston", "Celtics", "TD Garden", "Boston", "MA"),
    team("BKN", "Brooklyn", "Nets", "Barclays Center", "Brooklyn", "NY"),
    team("CHA", "Charlotte", "Hornets", "Spectrum Center", "Charlotte", "NC"),
    team("CHI", "Chicago", "Bulls", "United Center", "Chicago", "IL"),
    team("CLE", "Cleveland", "Cavaliers", "Rocket Arena", "Cleveland", "OH"),
    team("DAL", "Dallas", "Mavericks", "American Airlines Center", "Dallas", "TX"),
    team("DEN", "Denver", "Nuggets", "Ball Arena", "Denver", "CO"),
    team("DET", "Detroit", "Pistons", "Little Caesars Arena", "Detroit", "MI"),
    team("GSW", "Golden State", "Warriors", "Chase Center", "San Francisco", "CA"),
    team("HOU", "Houston", "Rockets", "Toyota Center", "Houston", "TX"),
    team("IND", "Indiana", "Pacers", "Gainbridge Fieldhouse", "Indianapolis", "IN"),
    team("LAC", "LA", "Clippers", "Intuit Dome", "Inglewood", "CA"),
    team("LAL", "Los Angeles", "Lakers", "Crypto.com Arena", "Los Angeles", "CA"),
    team("MEM", "Memphis", "Grizzlies", "FedExForum", "Memphis", "TN"),
    team("MIA", "Miami", "Heat", "Kaseya Center", "Miami", "FL"),
    team("MIL", "Milwaukee", "Bucks", "Fiserv Forum", "Milwaukee", "WI"),
    team("MIN", "Minnesota", "Timberwolves", "Target Center", "Minneapolis", "MN"),
    team("NOP", "New Orleans", "Pelicans", "Smoothie King Center", "New Orleans", "LA"),
    team("NYK", "New York", "Knicks", "Madison Square Garden", "New York", "NY"),
    team("OKC", "Oklahoma City", "Thunder", "Paycom Center", "Oklahoma City", "OK"),
    team("ORL", "Orlando", "Magic", "Kia Center", "Orlando", "FL"),
    team("PHI", "Philadelphia", "76ers", "Wells Fargo Center", "Philadelphia", "PA"),
    team("PHX", "Phoenix", "Suns", "Footprint Center", "Phoenix", "AZ"),
    team("POR", "Portland", "Trail Blazers", "Moda Center", "Portland", "OR"),
    team("SAC", "Sacramento", "Kings", "Golden 1 Center", "Sacramento", "CA"),
    team("SAS", "San Antonio", "Spurs", "Frost Bank Center", "San Antonio", "TX"),
    team("TOR", "Toronto", "Raptors", "Scotiabank Arena", "Toronto", "ON"),
    team("UTA", "Utah", "Jazz", "Delta Center", "Salt Lake City", "UT"),
    team("WAS", "Washington", "Wizards", "Capital One Arena", "Washington", "DC"),
];

/// 16 × 15 = 240 distinct synthetic names: 8 players for each of the 30 teams.
const FIRST: [&str; 16] = [
    "Alex", "Ben", "Chris", "Dario", "Eli", "Femi", "Gabe", "Hugo", "Ivan", "Jalen", "Kofi",
    "Luca", "Malik", "Nico", "Omar", "Pascal",
];
const LAST: [&str; 15] = [
    "Abara", "Bishop", "Castell", "Dunmore", "Ekwe", "Farrow", "Garland", "Holm", "Ibsen", "Jovic",
    "Kessler", "Lund", "Marsh", "Novak", "Okafor",
];
const ROSTER: u64 = 8;
const NETWORKS: [&str; 4] = ["ESPN", "TNT", "NBA TV", "League Pass"];
const POSITIONS: [&str; 8] = ["G", "G", "F", "F", "C", "G", "F", "C"];
/// Books that quote NBA props; 0 (the consensus) is on every offer.
const BOOKS: [i64; 10] = [10, 12, 13, 19, 24, 33, 36, 37, 18, 14];
/// (over, under) American odds pairs with a bookmaker's margin.
const COSTS: [(i64, i64); 10] = [
    (-110, -110),
    (-115, -105),
    (-105, -115),
    (-120, 100),
    (100, -120),
    (-125, 105),
    (105, -125),
    (-130, 110),
    (110, -130),
    (-140, 115),
];

/// Per market: offers per team (`lo..=hi`) and the best and the eighth player's usual line.
fn market_shape(market: MarketType) -> (u64, u64, f64, f64) {
    match market {
        MarketType::Points => (5, 6, 27.5, 8.5),
        MarketType::Rebounds => (4, 6, 11.5, 3.5),
        MarketType::Assists => (4, 5, 9.5, 1.5),
        MarketType::Threes => (3, 5, 3.5, 0.5),
        MarketType::Steals => (2, 3, 1.5, 0.5),
        MarketType::Blocks => (2, 3, 1.5, 0.5),
    }
}

/// A player: the same id, name and team whatever the date or seed.
struct Player {
    id: u64,
    name: String,
    team: usize,
    rank: u64,
}

impl Player {
    fn new(team: usize, rank: u64) -> Self {
        let n = team as u64 * ROSTER + rank;
        // n ↦ (n mod 16, (n div 16 + n mod 16) mod 15) is one-to-one on 0..240, and
        // teammates get different last names.
        let (first, last) = (n % 16, (n / 16 + n % 16) % 15);
        let name = format!("{} {}", FIRST[first as usize], LAST[last as usize]);
        Self {
            id: 5000 + n,
            name,
            team,
            rank,
        }
    }

    fn slug(&self) -> String {
        self.name.to_ascii_lowercase().replace(' ', "-")
    }

    fn participant(&self) -> Value {
        let (first, last) = self.name.split_once(' ').unwrap_or((&self.name, ""));
        json!({"id": self.id.to_string(), "name": self.name, "type": "player",
               "link": format!("/nba/props/{}/", self.slug()),
               "player": {"short_name": format!("{}. {last}", &first[..1]), "first_name": first,
                          "last_name": last, "position": POSITIONS[self.rank as usize],
                          "team": TEAMS[self.team].abbr, "slug": self.slug(),
                          "jersey_number": (self.id * 7) % 99}})
    }
}

/// Event ids: unique for every date and game (at most 15 games a day).
pub(super) fn event_id(date: GameDate, game: usize) -> u64 {
    u64::try_from(date.naive().num_days_from_ce()).unwrap_or(0) * 16 + game as u64 + 1
}

/// One day of `games` games (at most 15: there are 30 teams).
pub(super) fn day(date: GameDate, games: usize, seed: u64) -> SimDay {
    let mut rng = SplitMix64::new(seed ^ event_id(date, 0).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut teams: Vec<usize> = (0..TEAMS.len()).collect();
    rng.shuffle(&mut teams);
    let mut day = SimDay::default();
    for (g, pair) in teams.chunks(2).take(games.min(15)).enumerate() {
        let (home, away) = (pair[0], pair[1]);
        let id = event_id(date, g);
        day.events.push(event(&mut rng, date, id, home, away));
        for market in MarketType::ALL {
            let offers = day.offers.entry(market).or_default();
            let (lo, hi, _, _) = market_shape(market);
            let mut slot = 0;
            for team in [home, away] {
                for rank in 0..rng.range(lo, hi) {
                    let player = Player::new(team, rank);
                    let offer_id = id * 100 + market_index(market) * 16 + slot;
                    offers.push(offer(&mut rng, date, market, id, offer_id, &player));
                    slot += 1;
                }
            }
        }
    }
    day
}

fn market_index(market: MarketType) -> u64 {
    MarketType::ALL
        .iter()
        .position(|m| *m == market)
        .unwrap_or(0) as u64
}

fn event(rng: &mut SplitMix64, date: GameDate, id: u64, home: usize, away: usize) -> Value {
    let (h, a) = (TEAMS[home], TEAMS[away]);
    // Tip-off 19:00–22:30 Eastern is 00:00–03:30 UTC the next day (standard time).
    let tip = at(date.naive(), 19, 0, 0) + Duration::minutes(30 * rng.range(0, 7) as i64);
    let scheduled = tip + Duration::hours(5);
    let season = if date.naive().month() >= 8 {
        date.naive().year()
    } else {
        date.naive().year() - 1
    };
    let lineup = |team: usize| -> Vec<Value> {
        (0..ROSTER)
            .map(|rank| {
                let status = if rank < 5 { "started" } else { "bench" };
                json!({"status": status, "participant": Player::new(team, rank).participant()})
            })
            .collect()
    };
    let team = |t: Team| {
        json!({"id": t.abbr, "name": t.nickname, "link": format!("/nba/teams/{}/", slug(t)),
               "team": {"city": t.place, "abbreviation": t.abbr, "slug": slug(t)}})
    };
    json!({
        "id": id,
        "sr_id": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", rng.next_u64() as u32,
                         rng.range(0, 0xffff), rng.range(0, 0xfff), rng.range(0, 0xfff),
                         rng.next_u64() & 0xffff_ffff_ffff),
        "sport": "NBA",
        "scheduled": stamp(scheduled),
        "season": season,
        "season_type": "REG",
        "event_name": null,
        "status": "scheduled",
        "home": h.abbr,
        "visitor": a.abbr,
        "link": format!("/nba/matchups/{}-vs-{}/?date={date}", slug(h), slug(a)),
        "series_summary": null,
        "popularity": rng.range(40, 320),
        "lineups": {"home_lineup": lineup(home), "away_lineup": lineup(away),
                    "home_lineup_type": "projected", "away_lineup_type": "projected"},
        "venue": {"name": h.arena, "id": null, "city": h.city, "state": h.state, "country": "USA",
                  "zip": format!("{:05}", 10000 + home * 2917)},
        "participants": [team(h), team(a)],
        "broadcasts": [{"network": rng.pick(&NETWORKS), "type": "tv"}],
        "results": null,
        "is_free": false,
    })
}

/// `atlanta-hawks`, as in the website's links.
fn slug(team: Team) -> String {
    format!("{}-{}", team.place, team.nickname)
        .to_ascii_lowercase()
        .replace(' ', "-")
}

fn at(date: NaiveDate, h: u32, m: u32, s: u32) -> NaiveDateTime {
    date.and_hms_opt(h, m, s).unwrap_or_default()
}

/// One book's quote on an offer: its line and its (over, under) odds.
struct Quote {
    book: i64,
    line: f64,
    costs: (i64, i64),
}

fn offer(
    rng: &mut SplitMix64,
    date: GameDate,
    market: MarketType,
    event_id: u64,
    offer_id: u64,
    player: &Player,
) -> Value {
    let (_, _, best, worst) = market_shape(market);
    let usual = best - (best - worst) * player.rank as f64 / (ROSTER - 1) as f64;
    // Tonight's line is a step around the player's usual one; a book may differ by a point.
    let step = (best / 10.0).ceil();
    let line = (usual + (rng.range(0, 2) as f64 - 1.0) * step)
        .max(0.0)
        .floor()
        + 0.5;
    let mut books = BOOKS.to_vec();
    rng.shuffle(&mut books);
    books.truncate(rng.range(4, 8) as usize);
    books.insert(0, 0);
    let quotes: Vec<Quote> = books
        .into_iter()
        .map(|book| {
            let moved = [-1.0, 1.0].get(rng.range(0, 9) as usize).unwrap_or(&0.0);
            let costs = *rng.pick(&COSTS);
            Quote {
                book,
                line: (line + moved).max(0.5),
                costs,
            }
        })
        .collect();
    let opened = at(date.naive(), 8, 0, 0) + Duration::seconds(rng.range(0, 3 * 3600) as i64);
    let opening = json!({"line": line, "cost": -115, "book_id": quotes[1].book,
                         "created": stamp(opened)});
    let selections: Vec<Value> = [("over", "Over"), ("under", "Under")]
        .into_iter()
        .enumerate()
        .map(|(n, (name, label))| {
            let id = offer_id * 2 + n as u64;
            let books = side_books(rng, date, id, &quotes, n == 0);
            json!({"id": id, "selection": name, "label": label, "active": true,
                   "opening_line": opening, "books": books})
        })
        .collect();
    json!({"id": offer_id, "event_id": event_id, "market_id": market.id(), "player_id": player.id,
           "participants": [player.participant()], "selections": selections,
           "link": format!("/nba/props/{}/{}/", player.slug(), market.as_str()),
           "active": true, "is_live": false})
}

/// One line a book for a side; the book paying most is `best` (the first, on a tie).
fn side_books(
    rng: &mut SplitMix64,
    date: GameDate,
    selection_id: u64,
    quotes: &[Quote],
    over: bool,
) -> Vec<Value> {
    let cost = |q: &Quote| if over { q.costs.0 } else { q.costs.1 };
    let most = quotes.iter().map(cost).max();
    let top = quotes.iter().position(|q| Some(cost(q)) == most);
    quotes
        .iter()
        .enumerate()
        .map(|(j, q)| {
            let updated =
                at(date.naive(), 12, 0, 0) + Duration::seconds(rng.range(0, 25_200) as i64);
            json!({"id": q.book, "lines": [{
                "id": selection_id * 16 + j as u64, "line": q.line, "cost": cost(q),
                "updated": stamp(updated), "active": true, "best": top == Some(j),
                "main": true, "replaced": false, "is_off": false}]})
        })
        .collect()
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_player_has_a_name_and_an_id_of_their_own() {
        let players: Vec<Player> = (0..TEAMS.len())
            .flat_map(|t| (0..ROSTER).map(move |r| Player::new(t, r)))
            .collect();
        let names: HashSet<&str> = players.iter().map(|p| p.name.as_str()).collect();
        let ids: HashSet<u64> = players.iter().map(|p| p.id).collect();
        assert_eq!((names.len(), ids.len()), (240, 240));
    }

    #[test]
    fn the_generator_is_deterministic_and_stays_in_range() {
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        for _ in 0..1000 {
            let x = a.range(5, 9);
            assert_eq!(x, b.range(5, 9));
            assert!((5..=9).contains(&x));
        }
    }
}
