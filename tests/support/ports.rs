//! Ports for children that must be told one before they start (Pebble's challenge ports,
//! chromedriver, a port where nothing listens).
//!
//! Binding port 0 and releasing it races: between the release and the child's own bind,
//! the kernel may hand the same port to anyone asking for an ephemeral one — an outgoing
//! connection of Pebble, Chromium, another test. So these ports come from *below* the
//! kernel's ephemeral range (`net.ipv4.ip_local_port_range`), which neither `bind(:0)` nor
//! `connect` ever picks, and each is handed out once per test process. The test binaries
//! run one after another, so a start offset by process id keeps a new binary away from the
//! ports its predecessor may still hold in TIME_WAIT.

use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

/// The lowest port handed out; below it sit well-known services (PostgreSQL's 5432 …).
const FIRST: u16 = 20_000;

/// The next port to try and the end of the range (the kernel's ephemeral start), read once.
static NEXT: Mutex<Option<(u16, u16)>> = Mutex::new(None);

/// A loopback port no one listens on and the kernel will not hand out on its own.
pub fn reserved_port() -> u16 {
    let mut next = NEXT.lock().expect("port lock");
    let (mut port, end) = *next.get_or_insert_with(|| {
        let end = ephemeral_start();
        (
            FIRST + (std::process::id() % u32::from(end - FIRST)) as u16,
            end,
        )
    });
    for _ in FIRST..end {
        let candidate = port;
        port = if port + 1 >= end { FIRST } else { port + 1 };
        // Still check: a service of the machine may listen in this range.
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            *next = Some((port, end));
            return candidate;
        }
    }
    panic!("no free port in {FIRST}..{end}");
}

/// [`reserved_port`] on 127.0.0.1.
pub fn reserved_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], reserved_port()))
}

/// The first port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&low: &u16| low > FIRST + 1_000)
        .unwrap_or(32_768)
}
