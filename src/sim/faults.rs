//! Faults the local BettingPros can inject: scripted for one test, or drawn at random with a
//! fixed seed for the fault-injection suite and the benchmarks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One misbehaviour, as production has seen it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An error status with its real body (403 Forbidden, 502 HTML page, 503 …).
    Status(u16),
    /// A status with a `Retry-After` header (seconds or an HTTP-date).
    RetryAfter {
        status: u16,
        value: String,
    },
    /// An HTML challenge page with status 200.
    Challenge,
    EmptyBody,
    InvalidJson,
    /// No answer for this long, then the connection closes.
    Stall(Duration),
    /// The connection closes before any answer.
    Reset,
    /// Headers promise more body than arrives.
    Truncate,
    /// `Content-Encoding: br` over bytes that are not brotli.
    CorruptEncoding,
    /// A brotli body that inflates to this many bytes.
    Bomb {
        inflated_bytes: usize,
    },
    /// A redirect (301, 302, 307…) to `location`.
    Redirect {
        status: u16,
        location: String,
    },
    /// A well-formed events answer listing no events: an upstream that, for a moment, has
    /// lost a date's schedule. Nothing in it says it is wrong.
    NoEvents,
}

impl Fault {
    pub fn name(&self) -> String {
        match self {
            Fault::Status(s) => format!("fault {s}"),
            Fault::RetryAfter { status, value } => format!("fault {status} retry-after {value}"),
            Fault::Redirect { status, location } => format!("fault {status} to {location}"),
            other => format!("fault {other:?}").to_lowercase(),
        }
    }
}

/// Faults to inject: a script consumed in order, then seeded random draws.
#[derive(Clone, Default)]
pub struct FaultPlan {
    pub script: VecDeque<Fault>,
    random: Option<Arc<Mutex<Seeded>>>,
}

struct Seeded {
    state: u64,
    probability: f64,
    menu: Vec<Fault>,
}

impl FaultPlan {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn scripted(faults: impl IntoIterator<Item = Fault>) -> Self {
        Self {
            script: faults.into_iter().collect(),
            random: None,
        }
    }

    /// Each request, with `probability`, gets one fault from `menu` (uniformly), reproducibly.
    pub fn seeded(seed: u64, probability: f64, menu: Vec<Fault>) -> Self {
        Self {
            script: VecDeque::new(),
            random: Some(Arc::new(Mutex::new(Seeded {
                state: seed,
                probability,
                menu,
            }))),
        }
    }

    pub fn draw(&self) -> Option<Fault> {
        let mut s = self.random.as_ref()?.lock().expect("fault plan lock");
        if s.menu.is_empty() {
            return None;
        }
        let roll = (splitmix(&mut s.state) >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= s.probability {
            return None;
        }
        let i = (splitmix(&mut s.state) % s.menu.len() as u64) as usize;
        Some(s.menu[i].clone())
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let menu = vec![Fault::Status(503), Fault::Challenge, Fault::Truncate];
        let a = FaultPlan::seeded(7, 0.3, menu.clone());
        let b = FaultPlan::seeded(7, 0.3, menu);
        let da: Vec<_> = (0..200).map(|_| a.draw()).collect();
        let db: Vec<_> = (0..200).map(|_| b.draw()).collect();
        assert_eq!(da, db);
        let hits = da.iter().filter(|f| f.is_some()).count();
        assert!((30..90).contains(&hits), "{hits} faults in 200 at p=0.3");
    }
}
