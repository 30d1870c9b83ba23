//! Adapting API Gateway and Function URL requests to the router.

use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

use crate::state::AppState;

/// The service the Lambda runs: the router behind a step that removes the API stage from
/// the path. lambda_http puts a named stage in front of the path (`/prod/v1/...`) for REST
/// and HTTP APIs; `$default` stages and Function URLs have none.
pub fn service(
    state: Arc<AppState>,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send {
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(strip_stage))
        .service(crate::router(state))
}

fn stage_of(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(c) => c.stage.clone(),
        RequestContext::ApiGatewayV2(c) => c.stage.clone(),
        _ => None,
    }
}

fn strip_stage(mut req: Request) -> Request {
    let Some(stage) = stage_of(&req).filter(|s| s != "$default") else {
        return req;
    };
    let prefix = format!("/{stage}");
    let uri = req.uri();
    if let Some(rest) = uri
        .path()
        .strip_prefix(&prefix)
        .filter(|r| r.starts_with('/'))
    {
        let pq = match uri.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(new) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = new;
            }
        }
    }
    req
}
