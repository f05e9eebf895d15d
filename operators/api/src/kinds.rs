//! Which OpenShift kinds Outrigger serves, which it cannot serve as custom resources, and how
//! the legacy `apiVersion: v1` (and `v1beta3`) forms map to API groups.
//!
//! OpenShift's template processor rewrites legacy, group-less OpenShift kinds to their groups
//! ("legacy groupification"); later tools (template processing, the kubectl plugin, the
//! compatibility tests) call [`groupify`] to do the same, and [`classify`] to reject what a
//! stock API server cannot store, with a message that says what to write instead.

/// How Outrigger treats one OpenShift kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Served as a custom resource by Outrigger.
    Served,
    /// Served by OpenShift only as a virtual (non-storable) resource; Outrigger offers another
    /// form, named in the advice.
    Virtual,
    /// An OpenShift kind outside Outrigger's developer APIs.
    NotServed,
}

/// One OpenShift kind and what Outrigger does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenShiftKind {
    /// The kind, e.g. `DeploymentConfig`.
    pub kind: &'static str,
    /// Its API group, e.g. `apps.openshift.io`.
    pub group: &'static str,
    /// Whether Outrigger serves it.
    pub support: Support,
    /// For kinds not served as they are: what to use instead.
    pub advice: &'static str,
}

const fn served(kind: &'static str, group: &'static str) -> OpenShiftKind {
    OpenShiftKind {
        kind,
        group,
        support: Support::Served,
        advice: "",
    }
}

const fn virt(kind: &'static str, group: &'static str, advice: &'static str) -> OpenShiftKind {
    OpenShiftKind {
        kind,
        group,
        support: Support::Virtual,
        advice,
    }
}

const fn other(kind: &'static str, group: &'static str, advice: &'static str) -> OpenShiftKind {
    OpenShiftKind {
        kind,
        group,
        support: Support::NotServed,
        advice,
    }
}

const NOT_DEVELOPER_API: &str =
    "it belongs to an OpenShift platform API that Outrigger does not serve";
const USE_RBAC: &str = "use the same kind from rbac.authorization.k8s.io/v1 (roleRef and subjects instead of userNames/groupNames)";

/// Every OpenShift kind that legacy group-less manifests may name, with Outrigger's support.
pub const OPENSHIFT_KINDS: &[OpenShiftKind] = &[
    // apps.openshift.io
    served("DeploymentConfig", "apps.openshift.io"),
    virt(
        "DeploymentRequest",
        "apps.openshift.io",
        "use `kubectl outrigger rollout latest` or the DeploymentConfig instantiate annotation",
    ),
    virt(
        "DeploymentConfigRollback",
        "apps.openshift.io",
        "use `kubectl outrigger rollback` or the DeploymentConfig rollback annotation",
    ),
    virt(
        "DeploymentLog",
        "apps.openshift.io",
        "read the logs of pod <rc>-deploy, or use `kubectl outrigger logs dc/<name>`",
    ),
    virt(
        "DeploymentLogOptions",
        "apps.openshift.io",
        "read the logs of pod <rc>-deploy",
    ),
    // build.openshift.io
    served("BuildConfig", "build.openshift.io"),
    served("Build", "build.openshift.io"),
    virt(
        "BuildRequest",
        "build.openshift.io",
        "use `kubectl outrigger start-build` or the BuildConfig instantiate annotation",
    ),
    virt(
        "BinaryBuildRequestOptions",
        "build.openshift.io",
        "use `kubectl outrigger start-build --from-dir`",
    ),
    virt(
        "BuildLog",
        "build.openshift.io",
        "read the logs of pod <build>-build",
    ),
    virt(
        "BuildLogOptions",
        "build.openshift.io",
        "read the logs of pod <build>-build",
    ),
    // image.openshift.io
    served("ImageStream", "image.openshift.io"),
    virt(
        "ImageStreamTag",
        "image.openshift.io",
        "write the tag as an entry of the ImageStream's spec.tags, or use `kubectl outrigger tag`",
    ),
    virt(
        "ImageTag",
        "image.openshift.io",
        "write the tag as an entry of the ImageStream's spec.tags, or use `kubectl outrigger tag`",
    ),
    virt(
        "ImageStreamImage",
        "image.openshift.io",
        "read the ImageStream's status.tags[].items, or use `kubectl outrigger describe istag`",
    ),
    virt(
        "ImageStreamMapping",
        "image.openshift.io",
        "push to the registry and let the ImageStream import the tag",
    ),
    virt(
        "ImageStreamImport",
        "image.openshift.io",
        "use `kubectl outrigger import-image` or the ImageStream import annotation",
    ),
    virt(
        "Image",
        "image.openshift.io",
        "images are recorded by digest in ImageStream status; Image objects (named sha256:...) cannot be stored",
    ),
    virt(
        "ImageSignature",
        "image.openshift.io",
        "image signatures are not stored by Outrigger",
    ),
    // route.openshift.io
    served("Route", "route.openshift.io"),
    // project.openshift.io
    served("Project", "project.openshift.io"),
    served("ProjectRequest", "project.openshift.io"),
    // template.openshift.io
    served("Template", "template.openshift.io"),
    served("TemplateInstance", "template.openshift.io"),
    other(
        "BrokerTemplateInstance",
        "template.openshift.io",
        "it is bookkeeping of the Template Service Broker, which Outrigger does not run",
    ),
    // Platform groups that old templates name with apiVersion v1.
    other("Role", "authorization.openshift.io", USE_RBAC),
    other("RoleBinding", "authorization.openshift.io", USE_RBAC),
    other("ClusterRole", "authorization.openshift.io", USE_RBAC),
    other("ClusterRoleBinding", "authorization.openshift.io", USE_RBAC),
    other("Policy", "authorization.openshift.io", USE_RBAC),
    other("PolicyBinding", "authorization.openshift.io", USE_RBAC),
    other("ClusterPolicy", "authorization.openshift.io", USE_RBAC),
    other(
        "ClusterPolicyBinding",
        "authorization.openshift.io",
        USE_RBAC,
    ),
    other(
        "RoleBindingRestriction",
        "authorization.openshift.io",
        NOT_DEVELOPER_API,
    ),
    other("User", "user.openshift.io", NOT_DEVELOPER_API),
    other("Group", "user.openshift.io", NOT_DEVELOPER_API),
    other("Identity", "user.openshift.io", NOT_DEVELOPER_API),
    other(
        "UserIdentityMapping",
        "user.openshift.io",
        NOT_DEVELOPER_API,
    ),
    other("OAuthClient", "oauth.openshift.io", NOT_DEVELOPER_API),
    other(
        "OAuthClientAuthorization",
        "oauth.openshift.io",
        NOT_DEVELOPER_API,
    ),
    other("OAuthAccessToken", "oauth.openshift.io", NOT_DEVELOPER_API),
    other(
        "OAuthAuthorizeToken",
        "oauth.openshift.io",
        NOT_DEVELOPER_API,
    ),
    other("ClusterNetwork", "network.openshift.io", NOT_DEVELOPER_API),
    other("HostSubnet", "network.openshift.io", NOT_DEVELOPER_API),
    other("NetNamespace", "network.openshift.io", NOT_DEVELOPER_API),
    other(
        "EgressNetworkPolicy",
        "network.openshift.io",
        "use networking.k8s.io/v1 NetworkPolicy",
    ),
    other(
        "ClusterResourceQuota",
        "quota.openshift.io",
        "use a ResourceQuota per namespace",
    ),
    other(
        "SecurityContextConstraints",
        "security.openshift.io",
        "use Pod Security admission labels on the namespace",
    ),
];

/// Look up an OpenShift kind by kind name and group.
pub fn lookup(kind: &str, group: &str) -> Option<&'static OpenShiftKind> {
    OPENSHIFT_KINDS
        .iter()
        .find(|k| k.kind == kind && k.group == group)
}

/// The group a legacy group-less OpenShift kind belongs to (`DeploymentConfig` → `apps.openshift.io`).
pub fn legacy_group(kind: &str) -> Option<&'static str> {
    OPENSHIFT_KINDS
        .iter()
        .find(|k| k.kind == kind)
        .map(|k| k.group)
}

/// Whether an `apiVersion` is one of the group-less forms OpenShift kinds were once written in.
pub fn is_legacy_api_version(api_version: &str) -> bool {
    matches!(api_version, "v1" | "v1beta3")
}

/// Rewrite a legacy `apiVersion: v1` (or `v1beta3`) OpenShift object to `<group>/v1` in place,
/// as OpenShift's template processor does. Returns the old apiVersion when something changed.
/// Kubernetes core kinds (`v1` Service, Pod, ...) are left alone.
pub fn groupify(object: &mut serde_json::Value) -> Option<String> {
    let kind = object.get("kind")?.as_str()?;
    let api_version = object.get("apiVersion")?.as_str()?;
    if !is_legacy_api_version(api_version) {
        return None;
    }
    let group = legacy_group(kind)?;
    let old = api_version.to_owned();
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            serde_json::Value::String(format!("{group}/v1")),
        );
    }
    Some(old)
}

/// What a manifest's `apiVersion`/`kind` pair means to Outrigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    /// A kind Outrigger serves (after any legacy rewrite).
    Served(&'static OpenShiftKind),
    /// An OpenShift kind that cannot be stored; the message says what to do instead.
    Rejected {
        /// The OpenShift kind.
        kind: &'static OpenShiftKind,
        /// A sentence for the user.
        message: String,
    },
    /// Not an OpenShift kind (Kubernetes core, other CRDs): not Outrigger's business.
    Foreign,
}

/// Classify an object by its `apiVersion` and `kind`, accepting legacy group-less forms.
pub fn classify(api_version: &str, kind: &str) -> Classification {
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None if is_legacy_api_version(api_version) => match legacy_group(kind) {
            Some(group) => group,
            None => return Classification::Foreign,
        },
        None => return Classification::Foreign,
    };
    match lookup(kind, group) {
        None => Classification::Foreign,
        Some(k) if k.support == Support::Served => Classification::Served(k),
        Some(k) => {
            let why = match k.support {
                Support::Virtual => {
                    "OpenShift serves it as a virtual resource, which a custom resource cannot be"
                }
                _ => "Outrigger serves only OpenShift's developer APIs",
            };
            Classification::Rejected {
                kind: k,
                message: format!(
                    "{} ({}/v1) cannot be applied: {why}; {}",
                    k.kind, k.group, k.advice
                ),
            }
        }
    }
}

/// Rewrite an `ImageStreamTag` (or `ImageTag`) object into the ImageStream it stands for: the
/// stream `<stream>` with one `spec.tags` entry `<tag>` holding the object's `tag`. Applied with
/// server-side apply, it merges into an existing stream (tags are keyed by name), which is what
/// creating the ImageStreamTag did in OpenShift.
pub fn image_stream_tag_to_image_stream(
    object: &serde_json::Value,
) -> Result<crate::image::ImageStream, String> {
    let kind = object
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("ImageStreamTag");
    let name = object
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("{kind} has no metadata.name"))?;
    let (stream, tag) = crate::image::split_image_stream_tag(name)
        .ok_or_else(|| format!("{kind} {name:?}: metadata.name must be <stream>:<tag>"))?;
    let mut tag_ref = match object.get("tag") {
        Some(t) if t.is_object() => serde_json::from_value::<crate::image::TagReference>(t.clone())
            .map_err(|e| format!("{kind} {name:?}: field tag: {e}"))?,
        _ => {
            return Err(format!(
                "{kind} {name:?} has no `tag` to write (only a tag's spec can be stored; its image is status)"
            ));
        }
    };
    if tag_ref.name.as_deref().is_some_and(|n| n != tag) {
        return Err(format!(
            "{kind} {name:?}: tag.name {:?} differs from the tag in metadata.name ({tag:?})",
            tag_ref.name.as_deref().unwrap_or_default()
        ));
    }
    tag_ref.name = Some(tag.to_owned());
    let mut metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(stream.to_owned()),
        ..Default::default()
    };
    metadata.namespace = object
        .pointer("/metadata/namespace")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    Ok(crate::image::ImageStream {
        metadata,
        spec: crate::image::ImageStreamSpec {
            tags: Some(vec![tag_ref]),
            ..Default::default()
        },
        status: None,
    })
}

/// Outrigger's API groups.
pub const GROUPS: [&str; 6] = [
    "apps.openshift.io",
    "build.openshift.io",
    "image.openshift.io",
    "route.openshift.io",
    "project.openshift.io",
    "template.openshift.io",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_openshift_kinds_get_their_group() {
        let mut dc = json!({"apiVersion": "v1", "kind": "DeploymentConfig"});
        assert_eq!(groupify(&mut dc).as_deref(), Some("v1"));
        assert_eq!(dc["apiVersion"], "apps.openshift.io/v1");
        let mut route = json!({"apiVersion": "v1beta3", "kind": "Route"});
        groupify(&mut route);
        assert_eq!(route["apiVersion"], "route.openshift.io/v1");
    }

    #[test]
    fn core_kinds_and_grouped_objects_are_untouched() {
        let mut svc = json!({"apiVersion": "v1", "kind": "Service"});
        assert_eq!(groupify(&mut svc), None);
        assert_eq!(svc["apiVersion"], "v1");
        let mut dc = json!({"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig"});
        assert_eq!(groupify(&mut dc), None);
    }

    #[test]
    fn classification() {
        assert!(
            matches!(classify("v1", "BuildConfig"), Classification::Served(k) if k.group == "build.openshift.io")
        );
        assert!(matches!(
            classify("route.openshift.io/v1", "Route"),
            Classification::Served(_)
        ));
        assert_eq!(classify("v1", "Service"), Classification::Foreign);
        assert_eq!(classify("apps/v1", "Deployment"), Classification::Foreign);
        match classify("image.openshift.io/v1", "ImageStreamTag") {
            Classification::Rejected { message, .. } => {
                assert!(message.contains("ImageStreamTag"), "{message}");
                assert!(message.contains("spec.tags"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            classify("v1", "User"),
            Classification::Rejected { .. }
        ));
    }

    #[test]
    fn image_stream_tags_become_a_tag_of_their_stream() {
        let ist = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
            "metadata": {"name": "node:v3.10", "namespace": "ns"},
            "tag": {"reference": true, "from": {"kind": "DockerImage", "name": "openshift/node:v3.10.0"}}});
        let is = image_stream_tag_to_image_stream(&ist).expect("rewritten");
        assert_eq!(is.metadata.name.as_deref(), Some("node"));
        assert_eq!(is.metadata.namespace.as_deref(), Some("ns"));
        let tags = is.spec.tags.expect("tags");
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].name.as_deref(), Some("v3.10"));
        assert_eq!(tags[0].reference, Some(true));
        assert_eq!(
            tags[0].from.as_ref().and_then(|f| f.name.as_deref()),
            Some("openshift/node:v3.10.0")
        );
    }

    #[test]
    fn image_stream_tags_without_a_tag_or_a_colon_are_refused_with_reasons() {
        let no_tag = json!({"kind": "ImageStreamTag", "metadata": {"name": "a:b"}});
        assert!(
            image_stream_tag_to_image_stream(&no_tag)
                .expect_err("no tag")
                .contains("no `tag`")
        );
        let bad = json!({"kind": "ImageStreamTag", "metadata": {"name": "ab"}, "tag": {}});
        assert!(
            image_stream_tag_to_image_stream(&bad)
                .expect_err("bad")
                .contains("<stream>:<tag>")
        );
    }

    #[test]
    fn every_served_kind_is_in_an_outrigger_group() {
        for k in OPENSHIFT_KINDS
            .iter()
            .filter(|k| k.support == Support::Served)
        {
            assert!(GROUPS.contains(&k.group), "{k:?}");
        }
    }
}
