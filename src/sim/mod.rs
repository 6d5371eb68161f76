//! A local BettingPros that speaks the real protocol: fixture catalogue, faults and HTTP server.
pub mod catalogue;
pub mod faults;
pub mod server;
mod wire;
