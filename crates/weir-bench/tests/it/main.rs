//! weir-bench from the outside: the load generator against a server on 127.0.0.1.

#[cfg(feature = "http")]
mod load;
