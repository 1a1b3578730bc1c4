//! Plain HTTP (REST calls on a route) forwarded under the same policy as upgrades,
//! streamed both ways through hyper's client.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use http::{Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::answer::Answer;
use super::body::TimedBody;
use super::{Body, Policy, Proxy};
use crate::auth::Grant;
use crate::http::hop_by_hop::strip_hop_by_hop;
use crate::upstream::{self, Forwarding, UpstreamError};

impl Proxy {
    /// Plain HTTP under the same policy, streamed both ways.
    pub(super) async fn forward(
        &self,
        policy: &Policy,
        grant: Grant,
        request: Request<Incoming>,
        client: SocketAddr,
        started: Instant,
    ) -> Response<Body> {
        let config = policy.gate.config();
        let (parts, body) = request.into_parts();
        let (body, body_timed_out) = TimedBody::new(body, self.handshake_timeout());
        let mut upstream_request = Request::new(body);
        *upstream_request.method_mut() = parts.method.clone();
        *upstream_request.version_mut() = Version::HTTP_11;
        let forwarded =
            match upstream::upstream_path(config, parts.uri.path(), parts.uri.query()).parse() {
                Ok(uri) => {
                    *upstream_request.uri_mut() = uri;
                    *upstream_request.headers_mut() = upstream::upstream_headers(
                        config,
                        &policy.upstream,
                        &parts.headers,
                        &Forwarding {
                            client,
                            secure: self.secure,
                            websocket: false,
                            grant: &grant,
                            target_host: upstream::target_host(&parts.uri).as_ref(),
                            session: None,
                            assertion: policy.assertion.as_ref(),
                        },
                    );
                    policy.upstream.forward(upstream_request).await
                }
                Err(error) => Err(UpstreamError::Connect(std::io::Error::other(format!(
                    "upstream request path: {error}"
                )))),
            };
        match forwarded {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Err(_) if body_timed_out.load(Ordering::Relaxed) => {
                tracing::info!(
                    route = config.route(grant.route).path.as_str(),
                    client = %client,
                    "request body stalled past handshake_timeout; answered 408 body_timeout"
                );
                Answer::body_timeout().into_response()
            }
            Err(error) => {
                let reason =
                    self.record_upstream_refusal(policy, &grant, client, false, &error, started);
                Answer::denial(reason).into_response()
            }
        }
    }
}
