//! Checks a `ModelExecutor` beyond what the CRD schema enforces, and normalises it.

use kube::ResourceExt;
use mulambda_catalog::{ModelName, TraitValue};

use crate::crd::{ModelExecutor, Runtime};

/// A `ModelExecutor` spec that passed every check, in normalised form.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpec {
    /// The resource's name (also the Deployment's and the Service's).
    pub name: String,
    /// Model name.
    pub model_name: ModelName,
    /// The `s3://bucket/path` URI.
    pub storage_uri: String,
    /// Model type.
    pub model_type: TraitValue,
    /// Input format.
    pub input_format: TraitValue,
    /// Output format.
    pub output_format: TraitValue,
    /// Accuracy in [0, 1].
    pub accuracy: f64,
    /// Replicas (≥ 0).
    pub replicas: i32,
    /// S3 endpoint without scheme (`host:port`), when one is set.
    pub s3_endpoint: Option<String>,
    /// Whether S3 is reached over HTTPS.
    pub s3_https: bool,
    /// S3 region, when one is set (otherwise the S3 client finds the bucket's region).
    pub s3_region: Option<String>,
    /// Credentials Secret name.
    pub credentials_secret: Option<String>,
    /// The model server.
    pub runtime: Runtime,
}

/// A refused field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?}: {reason}")]
pub struct SpecError {
    /// The field, e.g. `spec.storageUri`.
    pub field: &'static str,
    /// The refused value (cut to 64 characters).
    pub value: String,
    /// Why.
    pub reason: String,
}

fn refuse(field: &'static str, value: &str, reason: impl ToString) -> SpecError {
    SpecError {
        field,
        value: value.chars().take(64).collect(),
        reason: reason.to_string(),
    }
}

/// Validates a `ModelExecutor`.
pub fn validate(mex: &ModelExecutor) -> Result<ValidSpec, SpecError> {
    let name = mex.name_any();
    if !is_dns_label(&name) {
        return Err(refuse(
            "metadata.name",
            &name,
            "must be a DNS label (a-z, 0-9, '-', starting with a letter, at most 63 characters): \
             it names the Service",
        ));
    }
    let s = &mex.spec;
    let model_name =
        ModelName::parse(&s.model_name).map_err(|e| refuse("spec.modelName", &s.model_name, e))?;
    let trait_value = |field, v: &str| TraitValue::parse(v).map_err(|e| refuse(field, v, e));
    let model_type = trait_value("spec.modelType", &s.model_type)?;
    let input_format = trait_value("spec.inputFormat", &s.input_format)?;
    let output_format = trait_value("spec.outputFormat", &s.output_format)?;
    if !(0.0..=1.0).contains(&s.accuracy) {
        return Err(refuse(
            "spec.accuracy",
            &s.accuracy.to_string(),
            "must be in [0, 1]",
        ));
    }
    if s.replicas < 0 {
        return Err(refuse(
            "spec.replicas",
            &s.replicas.to_string(),
            "must be ≥ 0",
        ));
    }
    let bucket_and_path = s.storage_uri.strip_prefix("s3://").unwrap_or("");
    let bucket = bucket_and_path.split('/').next().unwrap_or("");
    if bucket.is_empty() || s.storage_uri.chars().any(char::is_whitespace) {
        return Err(refuse(
            "spec.storageUri",
            &s.storage_uri,
            "must be s3://bucket/path",
        ));
    }
    let (s3_endpoint, s3_https) = match s.s3_endpoint.as_deref().map(str::trim) {
        None | Some("") => (None, true),
        Some(raw) => {
            let (https, rest) = if let Some(rest) = raw.strip_prefix("https://") {
                (true, rest)
            } else if let Some(rest) = raw.strip_prefix("http://") {
                (false, rest)
            } else {
                (true, raw)
            };
            let host = rest.strip_suffix('/').unwrap_or(rest);
            // Host names, IPv4 and bracketed IPv6 addresses, with a port: nothing that could
            // end the host part of the model fetch's `MC_HOST_…` URL (`@`, `/`, `?`, `#`, `$`).
            let host_char = |c: char| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
            };
            if host.is_empty() || !host.chars().all(host_char) {
                return Err(refuse(
                    "spec.s3Endpoint",
                    raw,
                    "must be [http://|https://]host[:port]",
                ));
            }
            (Some(host.to_string()), https)
        }
    };
    let s3_region = match s.s3_region.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => Some(r.to_string()),
        Some(r) => {
            return Err(refuse(
                "spec.s3Region",
                r,
                "must be a region name such as us-east-1",
            ));
        }
    };
    let credentials_secret = match s.credentials_secret.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) if is_dns_subdomain(n) => Some(n.to_string()),
        Some(n) => {
            return Err(refuse(
                "spec.credentialsSecret",
                n,
                "must be the name of a Secret (a DNS subdomain)",
            ));
        }
    };
    if let Some(image) = &s.serving_image
        && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
    {
        return Err(refuse(
            "spec.servingImage",
            image,
            "must be an image reference without spaces",
        ));
    }
    Ok(ValidSpec {
        name,
        model_name,
        storage_uri: s.storage_uri.clone(),
        model_type,
        input_format,
        output_format,
        accuracy: s.accuracy,
        replicas: s.replicas,
        s3_endpoint,
        s3_https,
        s3_region,
        credentials_secret,
        runtime: s.runtime,
    })
}

/// RFC 1035 label: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// RFC 1123 subdomain: lower-case alphanumerics, `-` and `.`, at most 253 characters,
/// starting and ending with an alphanumeric.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ModelExecutorSpec;

    fn mex(f: impl FnOnce(&mut ModelExecutorSpec)) -> ModelExecutor {
        let mut spec: ModelExecutorSpec = serde_json::from_value(serde_json::json!({
            "modelName": "resnet", "storageUri": "s3://models/resnet",
            "modelType": "Classification", "inputFormat": "image", "outputFormat": "label",
            "accuracy": 0.76, "s3Endpoint": "http://minio.mulambda-system.svc:9000",
            "credentialsSecret": "s3-credentials"
        }))
        .unwrap();
        f(&mut spec);
        ModelExecutor::new("resnet", spec)
    }

    #[test]
    fn normalises_a_good_spec() {
        let v = validate(&mex(|_| {})).unwrap();
        assert_eq!(v.model_type.as_str(), "classification");
        assert_eq!(
            v.s3_endpoint.as_deref(),
            Some("minio.mulambda-system.svc:9000")
        );
        assert!(!v.s3_https);
        assert_eq!(v.s3_region, None);
        let v = validate(&mex(|s| {
            s.s3_endpoint = Some("s3.example.com".into());
            s.s3_region = Some(" eu-central-1 ".into());
        }))
        .unwrap();
        assert!(v.s3_https);
        assert_eq!(v.s3_region.as_deref(), Some("eu-central-1"));
    }

    #[test]
    fn refusals_name_the_field_and_value() {
        let e = validate(&mex(|s| s.storage_uri = "gs://x/y".into())).unwrap_err();
        assert_eq!(e.field, "spec.storageUri");
        assert!(e.to_string().contains("gs://x/y"));
        let e = validate(&mex(|s| s.accuracy = 1.5)).unwrap_err();
        assert_eq!(e.field, "spec.accuracy");
        let e = validate(&mex(|s| s.model_type = "bad type".into())).unwrap_err();
        assert_eq!(e.field, "spec.modelType");
        let e = validate(&mex(|s| s.s3_endpoint = Some("http://a/b".into()))).unwrap_err();
        assert_eq!(e.field, "spec.s3Endpoint");
        for bad in [
            "http://u:p@minio:9000",
            "minio:9000?x",
            "$(AWS_SECRET_ACCESS_KEY)",
        ] {
            let e = validate(&mex(|s| s.s3_endpoint = Some(bad.into()))).unwrap_err();
            assert_eq!(e.field, "spec.s3Endpoint", "{bad}");
        }
        let v = validate(&mex(|s| {
            s.s3_endpoint = Some("https://[fd00::1]:9000/".into())
        }))
        .unwrap();
        assert_eq!(v.s3_endpoint.as_deref(), Some("[fd00::1]:9000"));
        let e = validate(&mex(|s| s.s3_region = Some("eu/central".into()))).unwrap_err();
        assert_eq!(e.field, "spec.s3Region");
        let e = validate(&mex(|s| s.credentials_secret = Some("Bad_Name".into()))).unwrap_err();
        assert_eq!(e.field, "spec.credentialsSecret");
        let mut m = mex(|_| {});
        m.metadata.name = Some("9lives.x".into());
        assert_eq!(validate(&m).unwrap_err().field, "metadata.name");
    }
}
