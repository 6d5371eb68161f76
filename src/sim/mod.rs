//! A local BettingPros that speaks the real protocol: fixture catalogue, faults and HTTP server.
pub mod catalogue;
pub mod faults;
mod rate;
pub mod server;
mod wire;
