//! The predict function: an axum [`Router`](axum::Router) served by Lambda (`bin/predict`)
//! or by a plain local server (`riskfn serve`).
//!
//! - [`config`]: settings from the environment;
//! - [`state`], [`cache`]: the store and the loaded-model cache shared by handlers;
//! - [`app`]: routes and handlers (translation only; scoring is `riskfn_core::scoring`);
//! - [`versions`], [`console`]: the review console's registry routes (compare, promote,
//!   approve, refuse, roll back) and its page;
//! - [`error`]: the mapping of errors to HTTP answers;
//! - [`auth`]: API keys on the local server, the API Gateway authorizer under Lambda;
//! - [`lambda`]: the Lambda entry service (API Gateway stage handling).

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod console;
pub mod error;
pub mod lambda;
pub mod session;
pub mod state;
pub mod versions;

pub use app::router;
pub use config::Config;
pub use state::AppState;

/// Serve the app on a TCP listener until ctrl-c or SIGTERM (the local server), then finish
/// the audit writes still in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<AppState>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(stop_asked())
        .await?;
    // Every answered prediction's audit record is stored before the process exits.
    state.audit.finish().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what a process manager, a container runtime or a shell's `kill`
/// sends).
async fn stop_asked() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: answering the requests in flight, then finishing audit writes");
}
