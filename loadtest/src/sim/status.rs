//! Model status and metadata documents, shaped like TF Serving's protobuf JSON.

use serde_json::{Value, json};

use super::config::SimConfig;
use super::error::ApiError;
use super::route::VersionSelector;

/// Resolves a version selector against the configuration.
///
/// # Errors
/// NOT_FOUND for an unknown version (TF: `Servable not found for request: Specific(m, v)` on
/// inference, `Could not find version v of model m` on status); INVALID_ARGUMENT for an unknown
/// label (TF: `Unrecognized servable version label: l`, a 400 in TF Serving).
pub fn resolve(
    config: &SimConfig,
    version: &VersionSelector,
    inference: bool,
) -> Result<i64, ApiError> {
    match version {
        VersionSelector::Latest => Ok(config.latest_version()),
        VersionSelector::Number(v) if config.versions.contains(v) => Ok(*v),
        VersionSelector::Number(v) => Err(ApiError::not_found(if inference {
            format!(
                "Servable not found for request: Specific({}, {v})",
                config.model
            )
        } else {
            format!("Could not find version {v} of model {}", config.model)
        })),
        VersionSelector::Label(label) => config.labels.get(label).copied().ok_or_else(|| {
            ApiError::invalid_argument(format!("Unrecognized servable version label: {label}"))
        }),
    }
}

/// Error for a model this executor does not serve.
pub fn unknown_model(model: &str, inference: bool) -> ApiError {
    ApiError::not_found(if inference {
        format!("Servable not found for request: Latest({model})")
    } else {
        format!("Could not find any versions of model {model}")
    })
}

/// `GET /v1/models/{m}[/versions/{v}|/labels/{l}]`: all versions, or the one selected.
///
/// Available versions are `AVAILABLE` with `OK`; when the executor is unavailable every version
/// is `END` with error code `UNAVAILABLE`.
pub fn status(
    config: &SimConfig,
    version: &VersionSelector,
    available: bool,
) -> Result<Value, ApiError> {
    let versions: Vec<i64> = match version {
        VersionSelector::Latest => {
            let mut all = config.versions.clone();
            all.sort_unstable();
            all.dedup();
            all
        }
        other => vec![resolve(config, other, false)?],
    };
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| {
            let (state, code, message) = if available {
                ("AVAILABLE", "OK", "")
            } else {
                ("END", "UNAVAILABLE", "simulated: executor is unavailable")
            };
            json!({
                "version": v.to_string(),
                "state": state,
                "status": {"error_code": code, "error_message": message},
            })
        })
        .collect();
    Ok(json!({ "model_version_status": entries }))
}

/// `GET …/metadata`: the signature defs of TF Serving's `half_plus_two` test model
/// (`serving_default`: predict `x` → `y`, DT_FLOAT, shape [-1]; `classify_x_to_y` and
/// `regress_x_to_y` over serialized `tf.Example`s). The doubled `signature_def` key is what
/// TF Serving writes (a `SignatureDefMap` message inside the `metadata` map).
///
/// # Errors
/// As [`resolve`].
pub fn metadata(config: &SimConfig, version: &VersionSelector) -> Result<Value, ApiError> {
    let v = resolve(config, version, false)?;
    let vector = |name: &str, dtype: &str| {
        json!({
            "dtype": dtype,
            "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": false},
            "name": name,
        })
    };
    let examples = json!({
        "dtype": "DT_STRING",
        "tensor_shape": {"dim": [], "unknown_rank": true},
        "name": "tf_example:0",
    });
    Ok(json!({
        "model_spec": {"name": config.model, "signature_name": "", "version": v.to_string()},
        "metadata": {"signature_def": {"signature_def": {
            "serving_default": {
                "inputs": {"x": vector("x:0", "DT_FLOAT")},
                "outputs": {"y": vector("y:0", "DT_FLOAT")},
                "method_name": "tensorflow/serving/predict",
            },
            "classify_x_to_y": {
                "inputs": {"inputs": examples},
                "outputs": {"scores": vector("y:0", "DT_FLOAT")},
                "method_name": "tensorflow/serving/classify",
            },
            "regress_x_to_y": {
                "inputs": {"inputs": examples},
                "outputs": {"outputs": vector("y:0", "DT_FLOAT")},
                "method_name": "tensorflow/serving/regress",
            },
        }}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SimConfig {
        SimConfig::parse_spec("versions=1+2,labels=stable:1+canary:2").unwrap()
    }

    #[test]
    fn status_lists_versions() {
        let s = status(&config(), &VersionSelector::Latest, true).unwrap();
        assert_eq!(s["model_version_status"][1]["version"], "2");
        assert_eq!(s["model_version_status"][1]["state"], "AVAILABLE");
        let s = status(&config(), &VersionSelector::Label("canary".into()), false).unwrap();
        assert_eq!(s["model_version_status"][0]["version"], "2");
        assert_eq!(s["model_version_status"][0]["state"], "END");
    }

    #[test]
    fn resolve_errors() {
        let c = config();
        assert_eq!(
            resolve(&c, &VersionSelector::Number(7), true)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            resolve(&c, &VersionSelector::Label("x".into()), true)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(resolve(&c, &VersionSelector::Latest, true).unwrap(), 2);
    }

    #[test]
    fn metadata_names_signature() {
        let m = metadata(&config(), &VersionSelector::Number(1)).unwrap();
        assert_eq!(m["model_spec"]["version"], "1");
        let sig = &m["metadata"]["signature_def"]["signature_def"]["serving_default"];
        assert_eq!(sig["inputs"]["x"]["dtype"], "DT_FLOAT");
    }
}
