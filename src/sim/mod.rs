//! A local BettingPros that speaks the real protocol: fixture catalogue and HTTP server.

pub mod catalogue;
