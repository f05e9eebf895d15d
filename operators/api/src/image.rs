//! `image.openshift.io/v1`: ImageStream.
//!
//! An ImageStream maps tag names to images: `spec.tags` says what each tag should point at
//! (an external image, another tag, or an image of a stream), `status.tags` records the history of
//! images each tag resolved to, newest first. Field names, types and nesting follow OpenShift's
//! `image/v1` API, so streams written for OpenShift deserialise here and serialise back unchanged.
//!
//! Of OpenShift's image kinds only ImageStream can be a custom resource; ImageStreamTag
//! (`<stream>:<tag>`) and ImageStreamImage (`<stream>@<digest>`) have names a custom resource
//! cannot carry. [`split_image_stream_tag`] splits the first form.
//!
//! # Reading quirks
//!
//! - `spec` may be absent (common for bare streams in Templates that only name a build output);
//!   it reads as an empty spec and is written back as `spec: {}`, as OpenShift returns it.
//! - `spec.tags[].annotations` and `spec.tags[].generation` are nullable, as OpenShift writes
//!   them as `null`; in Rust `null` reads as `None` and is written back as an absent field.
//!
//! # Defaults
//!
//! `spec.tags[].referencePolicy` defaults to `{type: Source}` in the schema. Left to a webhook or
//! the controller, because they depend on the cluster or on the old object: `importPolicy.importMode`
//! (the cluster's default, `Legacy` unless configured), the stamping of `spec.tags[].generation`
//! with the stream's generation, and `status.dockerImageRepository`.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Deserializer, Serialize};

/// Kinds accepted in `spec.tags[].from.kind`.
pub const TAG_FROM_KINDS: [&str; 3] = ["DockerImage", "ImageStreamTag", "ImageStreamImage"];

/// Values of `spec.tags[].referencePolicy.type`.
pub const REFERENCE_POLICY_TYPES: [&str; 2] = ["Source", "Local"];

/// Values of `spec.tags[].importPolicy.importMode`.
pub const IMPORT_MODES: [&str; 2] = ["Legacy", "PreserveOriginal"];

/// The tag used when an image stream reference names no tag.
pub const DEFAULT_TAG: &str = "latest";

/// Split an image stream tag name `<stream>:<tag>` into its stream and tag.
///
/// Returns `None` unless there is exactly one `:` with a non-empty part on each side, or when the
/// name contains `@` (that is an image stream image, `<stream>@<digest>`).
pub fn split_image_stream_tag(name: &str) -> Option<(&str, &str)> {
    if name.contains('@') {
        return None;
    }
    let (stream, tag) = name.split_once(':')?;
    if stream.is_empty() || tag.is_empty() || tag.contains(':') {
        return None;
    }
    Some((stream, tag))
}

/// The desired tags of an ImageStream.
#[derive(CustomResource, KubeSchema, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "image.openshift.io",
    version = "v1",
    kind = "ImageStream",
    plural = "imagestreams",
    singular = "imagestream",
    shortname = "is",
    namespaced,
    cel,
    derive = "PartialEq",
    status = "ImageStreamStatus",
    printcolumn = r#"{"name":"Image Repository","type":"string","description":"Pull location in the integrated registry","jsonPath":".status.dockerImageRepository"}"#,
    printcolumn = r#"{"name":"Tags","type":"string","description":"Tags with images","jsonPath":".status.tags[*].tag"}"#,
    printcolumn = r#"{"name":"Updated","type":"date","description":"When the first tag last changed","jsonPath":".status.tags[0].items[0].created"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {
    /// Whether short image names in this namespace (`name:tag`) resolve to this stream's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_policy: Option<ImageLookupPolicy>,

    /// Deprecated: an external repository whose tags are all imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,

    /// Desired tags, each pointing at an image, keyed by `name` (so server-side apply merges tags
    /// written by different managers, e.g. GitOps and `kubectl outrigger tag`). At most 10000 (a
    /// bound Outrigger adds so the per-tag CEL rules fit the API server's cost budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10000))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tags: Option<Vec<TagReference>>,
}

/// Field-for-field wire form of [`ImageStreamSpec`], used to read it.
///
/// `ImageStream.spec` is a required field of the generated root type; reading the spec through
/// `Option` lets a stream without `spec` deserialise (as an empty spec) instead of failing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageStreamSpecWire {
    #[serde(default)]
    lookup_policy: Option<ImageLookupPolicy>,
    #[serde(default)]
    docker_image_repository: Option<String>,
    #[serde(default)]
    tags: Option<Vec<TagReference>>,
}

impl<'de> Deserialize<'de> for ImageStreamSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<ImageStreamSpecWire>::deserialize(deserializer)?
            .map(|wire| Self {
                lookup_policy: wire.lookup_policy,
                docker_image_repository: wire.docker_image_repository,
                tags: wire.tags,
            })
            .unwrap_or_default())
    }
}

/// How pods and other workloads may refer to this stream's images by short name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageLookupPolicy {
    /// When true, a short image name matching this stream in the same namespace is replaced by
    /// the tag's current image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
}

/// One desired tag: where its image comes from and how it is imported and referenced.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.from) || (has(self.from.kind) && self.from.kind in ['DockerImage', 'ImageStreamTag', 'ImageStreamImage'])")
        .message("spec.tags[].from.kind must be one of DockerImage, ImageStreamTag, ImageStreamImage"),
    validation = Rule::new("!has(self.from) || (has(self.from.name) && self.from.name != '')")
        .message("spec.tags[].from.name is required when spec.tags[].from is set")
)]
pub struct TagReference {
    /// Tag name (required: it is the key of `spec.tags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Annotations shown on the images of this tag (for example `tags`, `iconClass`,
    /// `supports`). OpenShift writes `null` when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// The image this tag points at: `DockerImage` (a pull spec), `ImageStreamTag`
    /// (`[<stream>:]<tag>`) or `ImageStreamImage` (`[<stream>@]<digest>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::bounded_reference)]
    pub from: Option<ObjectReference>,

    /// When true the `DockerImage` pull spec is recorded as is, without importing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<bool>,

    /// Generation of the stream at which this tag last changed; set it to 0 to request a new
    /// import. OpenShift writes `null` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,

    /// How the image is imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<TagImportPolicy>,

    /// How consumers receive the pull spec of this tag's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {}), transform = crate::common::not_nullable)]
    pub reference_policy: Option<TagReferencePolicy>,
}

/// How the image of a tag is imported from its registry.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TagImportPolicy {
    /// Allow plain HTTP and unverified TLS when importing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,

    /// Re-import the tag periodically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<bool>,

    /// `Legacy` (keep one manifest of a manifest list) or `PreserveOriginal` (keep the list and
    /// all its manifests); the cluster default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Legacy', 'PreserveOriginal', '']").message("spec.tags[].importPolicy.importMode must be one of Legacy, PreserveOriginal"))]
    pub import_mode: Option<String>,
}

/// How the pull spec of a tag's image is given to consumers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TagReferencePolicy {
    /// `Source`: the image's original location; `Local`: through the integrated registry.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Source"), transform = crate::common::not_nullable, length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Source', 'Local', '']").message("spec.tags[].referencePolicy.type must be one of Source, Local"))]
    pub type_: Option<String>,
}

/// The observed state of an ImageStream: where it can be pulled from and the history of each tag.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamStatus {
    /// Pull location of the stream in the integrated registry, `<registry>/<namespace>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,

    /// The same location through the registry's external host name, when exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_docker_image_repository: Option<String>,

    /// Image history per tag (merge key `tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<NamedTagEventList>>,
}

/// The image history of one tag.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamedTagEventList {
    /// Tag name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,

    /// Images the tag pointed at, newest first; the first is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TagEvent>>,

    /// Conditions of the tag, such as a failed import (`ImportSuccess`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<TagEventCondition>>,
}

/// One image a tag pointed at.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TagEvent {
    /// When the tag started pointing at this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Time>,

    /// Pull spec of the image (digest form after an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_reference: Option<String>,

    /// Image digest (`sha256:…`); empty for tags recorded by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Spec tag generation that produced this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,

    /// Platforms of the image as `os/architecture`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<String>>,
}

/// A condition of a tag.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TagEventCondition {
    /// Condition type; only `ImportSuccess`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// `True`, `False` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,

    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,

    /// Machine-readable reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Human-readable details, such as the registry's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Spec tag generation this condition is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    fn round_trip(value: &Value) -> Value {
        let is: ImageStream = serde_json::from_value(value.clone()).expect("deserialises");
        serde_json::to_value(&is).expect("serialises")
    }

    fn stream(spec: Value) -> Value {
        json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": "ruby", "namespace": "demo"},
            "spec": spec,
        })
    }

    fn full() -> Value {
        json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": "ruby", "namespace": "demo", "generation": 2},
            "spec": {
                "lookupPolicy": {"local": true},
                "dockerImageRepository": "docker.io/library/ruby",
                "tags": [
                    {
                        "name": "3.3",
                        "annotations": {"tags": "builder,ruby", "iconClass": "icon-ruby"},
                        "from": {"kind": "DockerImage", "name": "docker.io/library/ruby:3.3"},
                        "reference": false,
                        "generation": 2,
                        "importPolicy": {"insecure": false, "scheduled": true, "importMode": "PreserveOriginal"},
                        "referencePolicy": {"type": "Local"},
                    },
                    {"name": "latest", "from": {"kind": "ImageStreamTag", "name": "3.3"}, "referencePolicy": {"type": "Source"}},
                ],
            },
            "status": {
                "dockerImageRepository": "registry.local:5000/demo/ruby",
                "publicDockerImageRepository": "registry.example.com/demo/ruby",
                "tags": [{
                    "tag": "3.3",
                    "items": [{
                        "created": "2026-01-01T00:00:00Z",
                        "dockerImageReference": "docker.io/library/ruby@sha256:00",
                        "image": "sha256:00",
                        "generation": 2,
                        "platforms": ["linux/amd64", "linux/arm64"],
                    }],
                    "conditions": [{
                        "type": "ImportSuccess", "status": "False",
                        "lastTransitionTime": "2026-01-02T00:00:00Z",
                        "reason": "NotFound", "message": "not found", "generation": 3,
                    }],
                }],
            },
        })
    }

    #[test]
    fn round_trips_every_field() {
        let value = full();
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn missing_spec_reads_as_empty() {
        let value = json!({
            "apiVersion": "v1",
            "kind": "ImageStream",
            "metadata": {"name": "app"},
        });
        let is: ImageStream = serde_json::from_value(value).expect("deserialises");
        assert_eq!(is.spec, ImageStreamSpec::default());
        assert_eq!(
            serde_json::to_value(&is).expect("serialises")["spec"],
            json!({})
        );
    }

    #[test]
    fn null_tag_fields_read_as_absent() {
        let value =
            stream(json!({"tags": [{"name": "a", "annotations": null, "generation": null}]}));
        let is: ImageStream = serde_json::from_value(value).expect("deserialises");
        let tag = &is.spec.tags.expect("tags")[0];
        assert_eq!(tag.annotations, None);
        assert_eq!(tag.generation, None);
    }

    #[test]
    fn empty_forms_round_trip() {
        let mut value = stream(json!({"tags": []}));
        value["status"] = json!({"dockerImageRepository": ""});
        assert_eq!(round_trip(&value), value);
    }

    fn check(spec: Value) -> Result<(), String> {
        let obj: ImageStream = serde_json::from_value(stream(spec)).map_err(|e| e.to_string())?;
        obj.validate_cel().map_err(|e| e.to_string())
    }

    fn assert_rejected(spec: Value, message: &str) {
        match check(spec) {
            Ok(()) => panic!("expected a rejection mentioning {message:?}"),
            Err(err) => assert!(
                err.contains(message),
                "{err:?} does not mention {message:?}"
            ),
        }
    }

    #[test]
    fn full_object_passes_every_rule() {
        let obj: ImageStream = serde_json::from_value(full()).expect("deserialises");
        obj.validate_cel().expect("valid");
    }

    #[test]
    fn tag_from_kind_must_be_known() {
        for kind in TAG_FROM_KINDS {
            check(json!({"tags": [{"name": "a", "from": {"kind": kind, "name": "x"}}]}))
                .expect(kind);
        }
        assert_rejected(
            json!({"tags": [{"name": "a", "from": {"kind": "ImageStream", "name": "x"}}]}),
            "spec.tags[].from.kind must be one of DockerImage, ImageStreamTag, ImageStreamImage",
        );
        assert_rejected(
            json!({"tags": [{"name": "a", "from": {"name": "x"}}]}),
            "spec.tags[].from.kind must be one of DockerImage, ImageStreamTag, ImageStreamImage",
        );
        assert_rejected(
            json!({"tags": [{"name": "a", "from": {"kind": "DockerImage"}}]}),
            "spec.tags[].from.name is required",
        );
        check(json!({"tags": [{"name": "a"}]})).expect("a tag without from is fine");
    }

    #[test]
    fn reference_policy_type_must_be_known() {
        for policy in REFERENCE_POLICY_TYPES {
            check(json!({"tags": [{"name": "a", "referencePolicy": {"type": policy}}]}))
                .expect(policy);
        }
        assert_rejected(
            json!({"tags": [{"name": "a", "referencePolicy": {"type": "Remote"}}]}),
            "spec.tags[].referencePolicy.type must be one of Source, Local",
        );
    }

    #[test]
    fn import_mode_must_be_known() {
        for mode in IMPORT_MODES {
            check(json!({"tags": [{"name": "a", "importPolicy": {"importMode": mode}}]}))
                .expect(mode);
        }
        assert_rejected(
            json!({"tags": [{"name": "a", "importPolicy": {"importMode": "All"}}]}),
            "spec.tags[].importPolicy.importMode must be one of Legacy, PreserveOriginal",
        );
    }

    #[test]
    fn crd_names_scope_columns_and_defaults() {
        let crd = ImageStream::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("imagestreams.image.openshift.io")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec!["is".to_string()]));
        let version = &crd.spec.versions[0];
        let subresources = serde_json::to_value(&version.subresources).expect("serialises");
        assert_eq!(subresources, json!({"status": {}}));
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                (
                    "Image Repository",
                    "string",
                    ".status.dockerImageRepository"
                ),
                ("Tags", "string", ".status.tags[*].tag"),
                ("Updated", "date", ".status.tags[0].items[0].created"),
            ]
        );
        let schema = serde_json::to_value(&version.schema).expect("serialises");
        let tag = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["tags"]["items"]["properties"];
        assert_eq!(tag["referencePolicy"]["default"], json!({}));
        assert_eq!(
            tag["referencePolicy"]["properties"]["type"]["default"],
            json!("Source")
        );
        assert_eq!(
            tag["importPolicy"]["properties"]["importMode"].get("default"),
            None
        );
        assert_eq!(tag["annotations"]["nullable"], json!(true));
        assert_eq!(tag["generation"]["nullable"], json!(true));
    }

    #[test]
    fn splits_image_stream_tags() {
        assert_eq!(split_image_stream_tag("ruby:3.3"), Some(("ruby", "3.3")));
        assert_eq!(split_image_stream_tag("ruby"), None);
        assert_eq!(split_image_stream_tag("ruby:"), None);
        assert_eq!(split_image_stream_tag(":3.3"), None);
        assert_eq!(split_image_stream_tag("a:b:c"), None);
        assert_eq!(split_image_stream_tag("ruby@sha256:00"), None);
        assert_eq!(split_image_stream_tag(""), None);
    }
}
