//! The one integration-test binary: real HTTP on 127.0.0.1, real emulators.

mod fetch;
mod proxies;
mod support;
