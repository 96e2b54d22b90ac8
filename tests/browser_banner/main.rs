//! The banner as visitors meet it: real headless Chromium, the real proxy in front of the
//! demo site, and every other host name sent to a loopback recorder — so a test can show
//! that a page did not even *try* to reach a tracker.

#[path = "../support/mod.rs"]
mod support;

mod accessibility;
mod choices;
mod keyboard;
mod signals;
mod world;
