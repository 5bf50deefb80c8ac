//! Why a load could not start (or could not finish collecting its figures). Failures of single
//! requests are not errors of the load: they are counted in `LoadResult::errors`.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid URL \"{url}\": {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("https is not supported by weir bench http yet (URL \"{url}\")")]
    Https { url: String },
    #[error("URL \"{url}\" must start with http://")]
    Scheme { url: String },
    #[error("invalid method \"{found}\": expected a token such as GET or POST")]
    Method { found: String },
    #[error("--header wants NAME: VALUE, found \"{found}\"")]
    HeaderSyntax { found: String },
    #[error("invalid header \"{name}\": {reason}")]
    Header { name: String, reason: String },
    #[error("{setting} must be {expected}, found {found}")]
    Setting { setting: &'static str, expected: &'static str, found: String },
    #[error("cannot resolve host {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("cannot start the runtime of the load: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("a connection's task failed: {0}")]
    Task(String),
}
