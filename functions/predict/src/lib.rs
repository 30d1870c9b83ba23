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
pub mod state;
pub mod versions;

pub use app::router;
pub use config::Config;
pub use state::AppState;

/// Serve the app on a TCP listener until ctrl-c (the local server).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<AppState>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
