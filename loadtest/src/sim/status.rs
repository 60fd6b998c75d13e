//! Model status and metadata, protocol-independent, with their JSON renderings (shaped like
//! TF Serving's protobuf JSON). The gRPC side renders the same data as protos (`grpc.rs`).

use serde_json::{Map, Value, json};

use super::config::SimConfig;
use super::error::ApiError;
use super::half_plus_two::{SIGNATURES, TensorSpec};
use super::route::VersionSelector;

/// Resolves a version selector for serving (inference and metadata), as TF Serving's
/// `GetServableHandle`.
///
/// # Errors
/// NOT_FOUND for an unknown version (`Servable not found for request: Specific(m, v)`);
/// INVALID_ARGUMENT for an unknown label (`Unrecognized servable version label: l`).
pub fn resolve(config: &SimConfig, version: &VersionSelector) -> Result<i64, ApiError> {
    match version {
        VersionSelector::Latest => Ok(config.latest_version()),
        VersionSelector::Number(v) if config.versions.contains(v) => Ok(*v),
        VersionSelector::Number(_) => Err(servable_not_found(&config.model, version)),
        VersionSelector::Label(label) => config.labels.get(label).copied().ok_or_else(|| {
            ApiError::invalid_argument(format!("Unrecognized servable version label: {label}"))
        }),
    }
}

/// NOT_FOUND for a servable request (inference, metadata) that names an unknown model or
/// version.
pub fn servable_not_found(model: &str, version: &VersionSelector) -> ApiError {
    ApiError::not_found(match version {
        VersionSelector::Number(v) => {
            format!("Servable not found for request: Specific({model}, {v})")
        }
        _ => format!("Servable not found for request: Latest({model})"),
    })
}

/// A version's state (`ModelVersionStatus.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Loaded and serving.
    Available,
    /// Gone (the simulated executor is unavailable).
    End,
}

/// One entry of a model status answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// Version number.
    pub version: i64,
    /// State.
    pub state: VersionState,
    /// `OK`, or `UNAVAILABLE` with a message.
    pub error: Option<&'static str>,
}

/// The status of `model`, as TF Serving's `GetModelStatus`: with a version number, that
/// version; otherwise — a label included, which GetModelStatus ignores — every version, the
/// **latest first** (TF Serving's version map is ordered by descending version).
///
/// Available versions are `AVAILABLE` with `OK`; when the executor is unavailable every version
/// is `END` with error code `UNAVAILABLE`.
///
/// # Errors
/// NOT_FOUND: `Could not find any versions of model m` / `Could not find version v of model m`.
pub fn status(
    config: &SimConfig,
    model: &str,
    version: &VersionSelector,
    available: bool,
) -> Result<Vec<VersionStatus>, ApiError> {
    if model != config.model {
        return Err(ApiError::not_found(format!(
            "Could not find any versions of model {model}"
        )));
    }
    let versions: Vec<i64> = match version {
        VersionSelector::Number(v) if config.versions.contains(v) => vec![*v],
        VersionSelector::Number(v) => {
            return Err(ApiError::not_found(format!(
                "Could not find version {v} of model {model}"
            )));
        }
        VersionSelector::Latest | VersionSelector::Label(_) => {
            let mut all = config.versions.clone();
            all.sort_unstable_by(|a, b| b.cmp(a));
            all.dedup();
            all
        }
    };
    Ok(versions
        .into_iter()
        .map(|version| VersionStatus {
            version,
            state: if available {
                VersionState::Available
            } else {
                VersionState::End
            },
            error: (!available).then_some("simulated: executor is unavailable"),
        })
        .collect())
}

/// `GET /v1/models/{m}[/versions/{v}|/labels/{l}]` as JSON.
///
/// # Errors
/// As [`status`].
pub fn status_json(
    config: &SimConfig,
    model: &str,
    version: &VersionSelector,
    available: bool,
) -> Result<Value, ApiError> {
    let entries: Vec<Value> = status(config, model, version, available)?
        .into_iter()
        .map(|s| {
            json!({
                "version": s.version.to_string(),
                "state": match s.state {
                    VersionState::Available => "AVAILABLE",
                    VersionState::End => "END",
                },
                "status": {
                    "error_code": if s.error.is_some() { "UNAVAILABLE" } else { "OK" },
                    "error_message": s.error.unwrap_or(""),
                },
            })
        })
        .collect();
    Ok(json!({ "model_version_status": entries }))
}

/// Resolves a metadata request: the version whose signatures are described.
///
/// # Errors
/// NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for an unknown label.
pub fn metadata_version(
    config: &SimConfig,
    model: &str,
    version: &VersionSelector,
) -> Result<i64, ApiError> {
    if model != config.model {
        return Err(servable_not_found(model, version));
    }
    resolve(config, version)
}

fn tensor_json(t: &TensorSpec) -> Value {
    let shape = match t.shape {
        Some(dims) => json!({
            "dim": dims.iter().map(|d| json!({"size": d.to_string(), "name": ""})).collect::<Vec<_>>(),
            "unknown_rank": false,
        }),
        None => json!({"dim": [], "unknown_rank": true}),
    };
    json!({"dtype": t.dtype, "tensor_shape": shape, "name": t.name})
}

/// `GET …/metadata`: the signature defs of TF Serving's `half_plus_two` test model, as in TF
/// Serving's `half_plus_two_model_metadata.json`. The doubled `signature_def` key is what TF
/// Serving writes (a `SignatureDefMap` message inside the `metadata` map).
///
/// # Errors
/// As [`metadata_version`].
pub fn metadata_json(
    config: &SimConfig,
    model: &str,
    version: &VersionSelector,
) -> Result<Value, ApiError> {
    let v = metadata_version(config, model, version)?;
    let mut defs = Map::new();
    for sig in &SIGNATURES {
        let map = |ts: &[TensorSpec]| -> Map<String, Value> {
            ts.iter()
                .map(|t| (t.alias.to_owned(), tensor_json(t)))
                .collect()
        };
        defs.insert(
            sig.name.to_owned(),
            json!({
                "inputs": map(sig.inputs),
                "outputs": map(sig.outputs),
                "method_name": sig.method,
                "defaults": {},
            }),
        );
    }
    Ok(json!({
        "model_spec": {"name": config.model, "signature_name": "", "version": v.to_string()},
        "metadata": {"signature_def": {"signature_def": defs}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SimConfig {
        SimConfig::parse_spec("versions=1+2,labels=stable:1+canary:2").unwrap()
    }

    #[test]
    fn status_lists_versions_latest_first_and_ignores_labels() {
        let c = config();
        let m = "half_plus_two";
        let s = status_json(&c, m, &VersionSelector::Latest, true).unwrap();
        assert_eq!(s["model_version_status"][0]["version"], "2");
        assert_eq!(s["model_version_status"][1]["version"], "1");
        assert_eq!(s["model_version_status"][1]["state"], "AVAILABLE");
        // GetModelStatus ignores labels, even unknown ones.
        let s = status(&c, m, &VersionSelector::Label("nope".into()), false).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].state, VersionState::End);
        let s = status(&c, m, &VersionSelector::Number(1), true).unwrap();
        assert_eq!(s[0].version, 1);
        let e = status(&c, m, &VersionSelector::Number(7), true).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (404, "Could not find version 7 of model half_plus_two")
        );
        let e = status(&c, "x", &VersionSelector::Latest, true).unwrap_err();
        assert_eq!(e.message, "Could not find any versions of model x");
    }

    #[test]
    fn resolve_errors() {
        let c = config();
        assert_eq!(
            resolve(&c, &VersionSelector::Number(7)).unwrap_err().status,
            404
        );
        assert_eq!(
            resolve(&c, &VersionSelector::Label("x".into()))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(resolve(&c, &VersionSelector::Latest).unwrap(), 2);
        assert_eq!(
            resolve(&c, &VersionSelector::Label("stable".into())).unwrap(),
            1
        );
    }

    #[test]
    fn metadata_matches_the_real_model() {
        let m = metadata_json(&config(), "half_plus_two", &VersionSelector::Number(1)).unwrap();
        assert_eq!(m["model_spec"]["version"], "1");
        let defs = &m["metadata"]["signature_def"]["signature_def"];
        assert_eq!(defs.as_object().unwrap().len(), 5);
        let sig = &defs["serving_default"];
        assert_eq!(sig["inputs"]["x"]["dtype"], "DT_FLOAT");
        assert_eq!(sig["inputs"]["x"]["tensor_shape"]["dim"][1]["size"], "1");
        assert_eq!(
            defs["classify_x_to_y"]["inputs"]["inputs"]["tensor_shape"]["unknown_rank"],
            true
        );
        assert_eq!(
            defs["regress_x_to_y2"]["outputs"]["outputs"]["name"],
            "y2:0"
        );
        let e = metadata_json(&config(), "x", &VersionSelector::Latest).unwrap_err();
        assert_eq!(e.message, "Servable not found for request: Latest(x)");
    }
}
