//! weir's built-in step kinds, one file each. Every kind is a config type (whose doc comments are
//! the user documentation, through its JSON Schema), a [`KindSpec`], and a [`StepKind`] impl.
//!
//! Data flow: the validator checks `with` blocks against each kind's schema and its rules across
//! keys (`KindSpec::check`), so a kind never meets a config that breaks them; at run time the
//! engine resolves `${{ }}` and hands the kind its config through [`weir_engine::StepCx`].
//!
//! Heavy kinds sit behind cargo features, on by default: `http` (reqwest, rustls). A build
//! without one knows the kind's name only to say which feature it needs.

mod approval;
mod fail;
mod foreach;
#[cfg(feature = "http")]
mod http;
mod log;
mod pass;
mod pipeline;
mod sleep;
mod transform;

use schemars::JsonSchema;
use weir_engine::Registry;

#[cfg(feature = "http")]
pub use http::install_crypto_provider;

/// Without the `http` feature there is no TLS client, so there is no provider to install.
#[cfg(not(feature = "http"))]
pub fn install_crypto_provider() {}

/// Every built-in kind of this build.
pub fn builtin() -> Registry {
    let registry = Registry::default().with(transform::Transform).with(pass::Pass);
    #[cfg(feature = "http")]
    let registry = registry.with(http::Http::default());
    #[cfg(not(feature = "http"))]
    let registry = registry.without(
        "http",
        "this build of weir has no `http` kind: build it with the `http` cargo feature (on by default)",
    );
    registry
        .with(sleep::Sleep)
        .with(fail::Fail)
        .with(log::Log)
        .with(foreach::Foreach)
        .with(pipeline::Pipeline)
        .with(approval::Approval)
}

/// The JSON Schema of a config type (as a plain function, for `KindSpec::schema`).
fn schema<T: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(T)
}
