//! SIGINT (Ctrl-C) and SIGTERM as a cancellation token: the first cancels it, so the work
//! in progress stops cleanly (the dump tool killed, uploads aborted); a second quits at once.

use backupman_core::CancellationToken;
use tokio::signal::unix::{SignalKind, signal};

/// A token cancelled by the first SIGINT or SIGTERM, after printing `first` (`None` when
/// whoever holds the token says it). A second signal quits at once (exit 130) without
/// cleaning up.
pub fn on_interrupt(first: Option<&'static str>) -> CancellationToken {
    let token = CancellationToken::new();
    let raised = token.clone();
    tokio::spawn(async move {
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            signals += 1;
            if signals > 1 {
                eprintln!("interrupted again: quitting without cleaning up");
                std::process::exit(130);
            }
            if let Some(first) = first {
                eprintln!("{first}");
            }
            raised.cancel();
        }
    });
    token
}
