//! `backupman serve`: the service mode (backupman-serve), until SIGTERM or SIGINT.

use std::net::SocketAddr;

use backupman_serve::{ServeError, ServeOptions};

use crate::cli::{Global, ServeArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::signals;
use crate::{CommandResult, Outcome};

pub async fn serve(global: &Global, args: ServeArgs) -> CommandResult {
    let config = or_exit!(loading::load_config(&global.config));
    // The service logs its own `stopping:` line, with the grace it gives a running backup.
    let shutdown = signals::on_interrupt(None);
    let options = ServeOptions::new(SocketAddr::new(args.bind, args.port), shutdown).with_build(
        backupman_serve::Build {
            commit: crate::version::COMMIT.to_owned(),
            date: crate::version::BUILD_DATE.to_owned(),
        },
    );
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
