//! The `predict` Lambda: API Gateway (REST or HTTP API) or a Function URL in front of the
//! same router the local server runs.

use riskfn_predict::{AppState, Config, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON (the SAM template sets it).
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let state = AppState::open(config).await?;
    lambda_http::run(lambda::service(state)).await
}
