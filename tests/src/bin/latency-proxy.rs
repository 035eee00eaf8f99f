//! `latency-proxy UPSTREAM_PORT DELAY_MS`: the test kit's [`LatencyProxy`] as a program, for
//! benchmarks (`cargo xtask bench scale`) that run the real binary behind a distant store.
//! Prints the port it listens on, then relays until its standard input closes.

use std::io::Read;
use std::time::Duration;

use backupman_testkit::proxy::LatencyProxy;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(upstream), Some(delay)) = (
        args.first().and_then(|p| p.parse::<u16>().ok()),
        args.get(1).and_then(|d| d.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: latency-proxy UPSTREAM_PORT DELAY_MS");
        std::process::exit(2);
    };
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(delay));
    println!("{}", proxy.port);
    // Whoever started it holds the pipe: when it closes (or dies), the proxy stops.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(proxy);
}
