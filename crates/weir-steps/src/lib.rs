//! weir's built-in step kinds, one file each. Every kind is a config type (whose doc comments are
//! the user documentation, through its JSON Schema), a [`KindSpec`], and a [`StepKind`] impl.
//!
//! Data flow: the validator checks `with` blocks against each kind's schema and its rules across
//! keys (`KindSpec::check`), so a kind never meets a config that breaks them; at run time the
//! engine resolves `${{ }}` and hands the kind its config through [`weir_engine::StepCx`].

mod fail;
mod foreach;
mod http;
mod log;
mod pass;
mod pipeline;
mod sleep;
mod transform;

use schemars::JsonSchema;
use weir_engine::Registry;

pub use http::install_crypto_provider;

/// Every built-in kind.
pub fn builtin() -> Registry {
    Registry::default()
        .with(transform::Transform)
        .with(pass::Pass)
        .with(http::Http::default())
        .with(sleep::Sleep)
        .with(fail::Fail)
        .with(log::Log)
        .with(foreach::Foreach)
        .with(pipeline::Pipeline)
}

/// The JSON Schema of a config type (as a plain function, for `KindSpec::schema`).
fn schema<T: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(T)
}
