//! The `predict` Lambda: API Gateway (REST or HTTP API) or a Function URL in front of the
//! same router the local server runs. `predict --listen 127.0.0.1:8080` serves the router
//! over plain HTTP instead (the same binary, measured locally).

use riskfn_predict::{AppState, Config, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON (the SAM template sets it).
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => {
            let state = AppState::open(config.for_local_server()?).await?;
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            riskfn_predict::serve(listener, state).await?;
            Ok(())
        }
        (None, _) => {
            // API Gateway's authorizer has checked the caller before the function runs.
            let state = AppState::open(config.for_lambda()).await?;
            lambda_http::run(lambda::service(state)).await
        }
        _ => Err("usage: predict [--listen ADDR]".into()),
    }
}
