//! `cowheap serve`: many Smalltalk sessions over one shared base, each session an image on its
//! own OS thread, reached over HTTP/JSON, every acknowledged evaluation durable in a
//! [`store::Store`] before its answer leaves.

#![forbid(unsafe_code)]

pub mod load;
/// The PostgreSQL store, `store::postgres` once `store/mod.rs` declares it (it lives in that
/// folder already).
#[path = "store/postgres.rs"]
pub mod postgres_store;
pub mod store;
