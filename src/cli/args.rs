//! The domain's values as command-line choices: clap value enums over the domain's own words
//! (each type's one word-mapping), so `--help` lists the allowed values and a typo is refused
//! with the list, exit 3.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::gaps::Category;
use crate::market::{MarketSelection, MarketType};
use crate::run::{RunStatus, Scraper};

impl ValueEnum for Scraper {
    fn value_variants<'a>() -> &'a [Self] {
        &Scraper::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for MarketType {
    fn value_variants<'a>() -> &'a [Self] {
        &MarketType::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for RunStatus {
    fn value_variants<'a>() -> &'a [Self] {
        &RunStatus::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// One market, or `all` six.
const SELECTIONS: [MarketSelection; 7] = [
    MarketSelection::One(MarketType::Points),
    MarketSelection::One(MarketType::Rebounds),
    MarketSelection::One(MarketType::Assists),
    MarketSelection::One(MarketType::Threes),
    MarketSelection::One(MarketType::Steals),
    MarketSelection::One(MarketType::Blocks),
    MarketSelection::All,
];

impl ValueEnum for MarketSelection {
    fn value_variants<'a>() -> &'a [Self] {
        &SELECTIONS
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            MarketSelection::One(m) => m.as_str(),
            MarketSelection::All => "all",
        }))
    }
}

/// A category a recovery acts on (`--category`): the other verdicts have nothing to recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actionable(pub Category);

const ACTIONABLE: [Actionable; 2] = [
    Actionable(Category::ScraperFailed),
    Actionable(Category::ProcessorFailed),
];

impl ValueEnum for Actionable {
    fn value_variants<'a>() -> &'a [Self] {
        &ACTIONABLE
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_is_the_domains_own_word_and_parses_back() {
        for m in SELECTIONS {
            let word = m.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(word.parse::<MarketSelection>().unwrap(), m);
        }
        for s in RunStatus::ALL {
            let word = s.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(word.parse::<RunStatus>().unwrap(), s);
        }
        for s in Scraper::ALL {
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.name());
        }
        let words: Vec<_> = ACTIONABLE.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(words, ["scraper_failed", "processor_failed"]);
    }
}
