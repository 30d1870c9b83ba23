//! The local server (the code `predict --listen` and `riskfn serve` run) as a process of its
//! own, for tests that stop it with a signal. Settings come from the environment, as the
//! `predict` binary reads them.
//!
//!     predict_node <address>

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs as the `predict` binary writes them (JSON with AWS_LAMBDA_LOG_FORMAT=JSON).
    lambda_http::tracing::init_default_subscriber();
    let addr = std::env::args()
        .nth(1)
        .ok_or("usage: predict_node <address>")?;
    let config = riskfn_predict::Config::from_env()?.for_local_server()?;
    let state = riskfn_predict::AppState::open(config).await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    riskfn_predict::serve(listener, state).await?;
    Ok(())
}
