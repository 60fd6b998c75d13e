//! The `x-mulambda-*` and `x-request-id` header names (spelled in
//! [`mulambda_catalog::names::headers`]) as parsed [`HeaderName`]s, built at compile time: a
//! lookup or insert with a `&str` name parses and validates it on every call, one with a
//! `HeaderName` only hashes it.

use http::HeaderName;
use mulambda_catalog::names::headers;

/// `x-mulambda-model`.
pub static MODEL: HeaderName = HeaderName::from_static(headers::MODEL);
/// `x-mulambda-executor`.
pub static EXECUTOR: HeaderName = HeaderName::from_static(headers::EXECUTOR);
/// `x-mulambda-reason`.
pub static REASON: HeaderName = HeaderName::from_static(headers::REASON);
/// `x-mulambda-latency-weight`.
pub static LATENCY_WEIGHT: HeaderName = HeaderName::from_static(headers::LATENCY_WEIGHT);
/// `x-mulambda-accuracy-weight`.
pub static ACCURACY_WEIGHT: HeaderName = HeaderName::from_static(headers::ACCURACY_WEIGHT);
/// `x-mulambda-max-latency-ms`.
pub static MAX_LATENCY_MS: HeaderName = HeaderName::from_static(headers::MAX_LATENCY_MS);
/// `x-mulambda-min-accuracy`.
pub static MIN_ACCURACY: HeaderName = HeaderName::from_static(headers::MIN_ACCURACY);
/// `x-mulambda-timeout-ms`.
pub static TIMEOUT_MS: HeaderName = HeaderName::from_static(headers::TIMEOUT_MS);
/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static(headers::REQUEST_ID);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_as_in_the_catalog() {
        assert_eq!(MODEL.as_str(), headers::MODEL);
        assert_eq!(REQUEST_ID.as_str(), headers::REQUEST_ID);
        assert_eq!(TIMEOUT_MS.as_str(), headers::TIMEOUT_MS);
    }
}
