//! The gRPC methods of TF Serving's two services, by path.

/// gRPC service name of TF Serving's inference service.
pub const PREDICTION_SERVICE: &str = "tensorflow.serving.PredictionService";
/// gRPC service name of TF Serving's model management service.
pub const MODEL_SERVICE: &str = "tensorflow.serving.ModelService";

/// A request type whose `model_spec` mulambda reads and rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `PredictionService/Predict` (`PredictRequest`).
    Predict,
    /// `PredictionService/Classify` (`ClassificationRequest`).
    Classify,
    /// `PredictionService/Regress` (`RegressionRequest`).
    Regress,
    /// `PredictionService/MultiInference` (`MultiInferenceRequest`: one spec per task).
    MultiInference,
    /// `PredictionService/GetModelMetadata` (`GetModelMetadataRequest`).
    GetModelMetadata,
    /// `ModelService/GetModelStatus` (`GetModelStatusRequest`).
    GetModelStatus,
}

// === impl RequestKind ===

impl RequestKind {
    /// Every kind.
    pub const ALL: [RequestKind; 6] = [
        RequestKind::Predict,
        RequestKind::Classify,
        RequestKind::Regress,
        RequestKind::MultiInference,
        RequestKind::GetModelMetadata,
        RequestKind::GetModelStatus,
    ];

    /// The HTTP/2 `:path` of the method, e.g. `/tensorflow.serving.PredictionService/Predict`.
    pub fn path(self) -> &'static str {
        match self {
            RequestKind::Predict => "/tensorflow.serving.PredictionService/Predict",
            RequestKind::Classify => "/tensorflow.serving.PredictionService/Classify",
            RequestKind::Regress => "/tensorflow.serving.PredictionService/Regress",
            RequestKind::MultiInference => "/tensorflow.serving.PredictionService/MultiInference",
            RequestKind::GetModelMetadata => {
                "/tensorflow.serving.PredictionService/GetModelMetadata"
            }
            RequestKind::GetModelStatus => "/tensorflow.serving.ModelService/GetModelStatus",
        }
    }

    /// The kind of a `:path`; `None` for any other method (gRPC paths are case-sensitive).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.path() == path)
    }

    /// The method name alone (`Predict`, `GetModelStatus`, …).
    pub fn method_name(self) -> &'static str {
        let path = self.path();
        &path[path.rfind('/').map_or(0, |i| i + 1)..]
    }

    /// Whether the method runs the model (Predict, Classify, Regress, MultiInference) rather than
    /// describing it (metadata, status).
    pub fn is_inference(self) -> bool {
        !matches!(
            self,
            RequestKind::GetModelMetadata | RequestKind::GetModelStatus
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_are_exact() {
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::from_path(kind.path()), Some(kind));
        }
        assert_eq!(RequestKind::Predict.method_name(), "Predict");
        assert!(RequestKind::from_path("/tensorflow.serving.PredictionService/predict").is_none());
        assert!(
            RequestKind::from_path("/tensorflow.serving.ModelService/HandleReloadConfigRequest")
                .is_none()
        );
        assert!(RequestKind::Regress.is_inference());
        assert!(!RequestKind::GetModelStatus.is_inference());
    }
}
