//! PLACEHOLDER until the synthetic catalogue lands.
use crate::calendar::GameDate;
#[derive(Clone, Default)]
pub struct Catalogue {}
impl Catalogue {
    pub fn new() -> Self {
        Self {}
    }
    pub fn events_answer(&self, date: GameDate) -> serde_json::Value {
        serde_json::json!({"_parameters": {"sport": "NBA", "date": date.to_string()}, "events": [{"id": 1, "home": "ATL", "visitor": "DAL"}]})
    }
    pub fn offers_page(&self, _m: u32, _e: &[u64], _p: u32, _l: u32) -> Option<serde_json::Value> {
        None
    }
}
