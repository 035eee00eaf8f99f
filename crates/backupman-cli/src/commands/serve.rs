//! `backupman serve`: the service mode (backupman-serve), until SIGTERM or SIGINT.

use std::net::SocketAddr;

use backupman_serve::{ServeError, ServeOptions};

use crate::Outcome;
use crate::cli::{Global, ServeArgs};
use crate::commands::or_exit;
use crate::signals;
use crate::wiring;

pub async fn serve(global: &Global, args: ServeArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let shutdown = signals::on_interrupt(
        "stopping: no new backups; a running one may finish within http.shutdown_grace_seconds (interrupt again to quit at once)",
    );
    let options = ServeOptions::new(SocketAddr::new(args.bind, args.port), shutdown);
    match backupman_serve::serve(config, options).await {
        Ok(()) => Ok(Outcome::Success),
        Err(err @ ServeError::NoApiKeys) => {
            eprintln!("error: {}: {err}", global.config.display());
            Ok(Outcome::Invalid)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(Outcome::Failed)
        }
    }
}
