//! The shared vocabulary of mulambda and its store schema.
//!
//! - Vocabulary: [`ModelTraits`], [`Criteria`], [`Executor`], [`Client`],
//!   [`LatencyMeasurement`], validated identifiers ([`TraitValue`], [`Id`], [`ModelName`]) and
//!   [`Endpoint`]s.
//! - Store schema ([`schema`]): key layout, versioned records, total decoding. Documented in
//!   `docs/store-schema.md`.
//! - Store client ([`Store`]): lazy, self-reconnecting, a deadline on every call; registrations
//!   under leases ([`Lease`]), change events ([`EventSubscription`]), reads sized for the hot
//!   reader ([`Store::read_client_view`]).
//! - Names shared by all components ([`names`]).
#![forbid(unsafe_code)]

mod client;
mod criteria;
mod duration;
mod endpoint;
mod error;
mod events;
mod executor;
mod ident;
mod latency;
mod lease;
pub mod names;
mod registry;
pub mod schema;
mod store;
mod traits;
mod view;

pub use client::Client;
pub use criteria::{Criteria, SoftCriteria, parse_number};
pub use duration::parse_duration;
pub use endpoint::{Endpoint, EndpointError};
pub use error::Error;
pub use events::{CatalogEvent, Change, ChangeKind, EventSubscription};
pub use executor::{Executor, SignatureSummary, TensorSummary};
pub use ident::{Id, IdentError, ModelName, TraitValue};
pub use latency::LatencyMeasurement;
pub use lease::{Lease, LeaseConfig, LeaseState, LeasedRecord};
pub use registry::Registered;
pub use schema::DecodeError;
pub use store::{Store, StoreConfig, StoreError, redact_url};
pub use traits::{ModelTraits, TraitMismatch};
pub use view::{ClientView, ClientsView, ExecutorsView, Leased, PollView};
