//! `kubectl outrigger import-image` and `kubectl outrigger tag`: what `oc import-image` and
//! `oc tag` did through OpenShift's virtual resources (ImageStreamImport, ImageStreamTag), done
//! as plain writes to `ImageStream` that GitOps can make too:
//!
//! ```text
//! kubectl outrigger import-image STREAM[:TAG] [--from=PULLSPEC] [--confirm] [--insecure] [--scheduled]
//!                                [--import-mode=Legacy|PreserveOriginal] [--reference-policy=source|local] [-n NS]
//! kubectl outrigger tag SOURCE DEST... [--source=docker|istag|isimage] [--alias] [--reference]
//!                       [--scheduled] [--insecure] [-n NS]
//! kubectl outrigger tag -d DEST... [-n NS]
//! ```
//!
//! - `import-image` with `--from` (or `--confirm` for a new stream) sets the spec tag; every run also sets `image.openshift.io/import-requested` to a fresh value, which the
//!   ImageStream controller answers with one import of every importable tag. It then waits (60 s)
//!   for the tag's status and prints the imported digest or the import failure.
//! - `tag` sets `spec.tags[DEST]` with a JSON patch (a replace guarded by a `test` of the
//!   name, or an append; other tags are untouched): a pull spec becomes `DockerImage`,
//!   `stream:tag` becomes `ImageStreamImage stream@<current digest>` (pinned, as `oc tag` does)
//!   or, with `--alias`, `ImageStreamTag stream:tag` (tracking), `stream@digest` becomes
//!   `ImageStreamImage`. Missing destination streams are created.
//! - `tag -d` removes the spec tag (a JSON patch guarded by a `test` of the element); its
//!   history stays in status, as after editing the spec in OpenShift.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use outrigger_api::image::{ImageStream, split_image_stream_tag};
use serde_json::{Value, json};

/// Annotation the ImageStream controller answers with an import of every importable tag.
const IMPORT_REQUESTED: &str = "image.openshift.io/import-requested";
const USAGE: &str = "usage:
  kubectl outrigger import-image STREAM[:TAG] [--from=PULLSPEC] [--confirm] [--insecure] [--scheduled] [--import-mode=Legacy|PreserveOriginal] [--reference-policy=source|local] [-n NAMESPACE]
  kubectl outrigger tag SOURCE DEST... [--source=docker|istag|isimage] [--alias] [--reference] [--scheduled] [--insecure] [-n NAMESPACE]
  kubectl outrigger tag -d DEST... [-n NAMESPACE]";

/// Whether the command line is one of this module's verbs.
pub fn handles(argv: &[String]) -> bool {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "-n" || a == "--namespace" {
            it.next();
        } else if !a.starts_with('-') {
            return a == "import-image" || a == "tag";
        }
    }
    false
}

/// Parsed flags and positionals of both verbs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    verb: String,
    positional: Vec<String>,
    namespace: Option<String>,
    from: Option<String>,
    source: Option<String>,
    import_mode: Option<String>,
    reference_policy: Option<String>,
    confirm: bool,
    insecure: bool,
    scheduled: bool,
    alias: bool,
    reference: bool,
    delete: bool,
}

fn parse(argv: &[String]) -> Result<Args> {
    let mut args = Args::default();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if a.starts_with('-') => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| anyhow!("{flag} needs a value")),
            }
        };
        match flag {
            "-n" | "--namespace" => args.namespace = Some(value()?),
            "--from" => args.from = Some(value()?),
            "--source" => args.source = Some(value()?),
            "--import-mode" => args.import_mode = Some(value()?),
            "--reference-policy" => args.reference_policy = Some(value()?),
            "--confirm" => args.confirm = true,
            "--insecure" => args.insecure = true,
            "--scheduled" => args.scheduled = true,
            "--alias" => args.alias = true,
            "--reference" => args.reference = true,
            "-d" | "--delete" => args.delete = true,
            "-h" | "--help" => bail!("{USAGE}"),
            f if f.starts_with('-') => bail!("unknown flag {f}\n{USAGE}"),
            _ if args.verb.is_empty() => args.verb = a.clone(),
            _ => args.positional.push(a.clone()),
        }
    }
    if let Some(m) = &args.import_mode
        && m != "Legacy"
        && m != "PreserveOriginal"
    {
        bail!("--import-mode must be Legacy or PreserveOriginal");
    }
    if let Some(p) = &args.reference_policy
        && !p.eq_ignore_ascii_case("source")
        && !p.eq_ignore_ascii_case("local")
    {
        bail!("--reference-policy must be source or local");
    }
    Ok(args)
}

/// `stream[:tag]` → (stream, tag), tag defaulting to `latest`.
fn stream_tag(s: &str) -> Result<(String, String)> {
    if s.contains(':') {
        split_image_stream_tag(s)
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .ok_or_else(|| anyhow!("{s:?} is not STREAM:TAG"))
    } else if s.is_empty() || s.contains('@') || s.contains('/') {
        bail!("{s:?} is not STREAM[:TAG]")
    } else {
        Ok((s.to_owned(), "latest".to_owned()))
    }
}

/// The spec tag `tag` as JSON.
fn spec_tag(tag: &str, from: Value, args: &Args) -> Value {
    let mut t = json!({"name": tag, "from": from});
    if args.reference {
        t["reference"] = json!(true);
    }
    let mut policy = serde_json::Map::new();
    if args.insecure {
        policy.insert("insecure".into(), json!(true));
    }
    if args.scheduled {
        policy.insert("scheduled".into(), json!(true));
    }
    if let Some(m) = &args.import_mode {
        policy.insert("importMode".into(), json!(m));
    }
    if !policy.is_empty() {
        t["importPolicy"] = Value::Object(policy);
    }
    if let Some(p) = &args.reference_policy {
        let p = if p.eq_ignore_ascii_case("local") {
            "Local"
        } else {
            "Source"
        };
        t["referencePolicy"] = json!({"type": p});
    }
    t
}

/// The JSON-patch operations that set spec tag `tag` (named `name`) on `is`: replace the tag
/// of that name (guarded by a `test` of its name) or append it.
fn upsert_ops(is: &ImageStream, name: &str, tag: Value) -> Value {
    match is.spec.tags.as_ref() {
        None => json!([{"op": "add", "path": "/spec/tags", "value": [tag]}]),
        Some(tags) => match tags.iter().position(|t| t.name.as_deref() == Some(name)) {
            Some(i) => json!([
                {"op": "test", "path": format!("/spec/tags/{i}/name"), "value": name},
                {"op": "replace", "path": format!("/spec/tags/{i}"), "value": tag},
            ]),
            None => json!([{"op": "add", "path": "/spec/tags/-", "value": tag}]),
        },
    }
}

/// Sets spec tag `name` of `stream` (creating the stream when missing) and, when given, the
/// import-request annotation. A plain patch rather than server-side apply: an apply would
/// make this client own — and on its next call drop — the tags it set before.
async fn set_tag(
    api: &Api<ImageStream>,
    stream: &str,
    name: &str,
    tag: Option<Value>,
    request: Option<&str>,
) -> Result<()> {
    match api.get_opt(stream).await? {
        None => {
            let mut is = json!({
                "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                "metadata": {"name": stream},
                "spec": {"tags": tag.into_iter().collect::<Vec<_>>()},
            });
            if let Some(r) = request {
                is["metadata"]["annotations"] = json!({IMPORT_REQUESTED: r});
            }
            api.create(&Default::default(), &serde_json::from_value(is)?)
                .await?;
        }
        Some(is) => {
            if let Some(tag) = tag {
                let patch = serde_json::from_value(upsert_ops(&is, name, tag))?;
                api.patch(stream, &PatchParams::default(), &Patch::<()>::Json(patch))
                    .await?;
            }
            if let Some(r) = request {
                let patch = json!({"metadata": {"annotations": {IMPORT_REQUESTED: r}}});
                api.patch(stream, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
        }
    }
    Ok(())
}

fn nonce() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default()
}

/// How the `tag` source is read.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    Docker(String),
    Tag(String, String),
    Image(String, String),
}

fn classify_source(s: &str, explicit: Option<&str>) -> Result<Source> {
    match explicit {
        Some("docker") => return Ok(Source::Docker(s.to_owned())),
        Some("isimage") => {
            let (a, d) = s
                .split_once('@')
                .ok_or_else(|| anyhow!("{s:?} is not STREAM@DIGEST"))?;
            return Ok(Source::Image(a.to_owned(), d.to_owned()));
        }
        Some("istag") => {
            let (a, t) = stream_tag(s)?;
            return Ok(Source::Tag(a, t));
        }
        Some(other) => bail!("--source must be docker, istag or isimage, not {other}"),
        None => {}
    }
    // a registry host or a path means a pull spec; `a@sha256:…` and `a:b` name streams
    if s.contains('/') {
        return Ok(Source::Docker(s.to_owned()));
    }
    if let Some((a, d)) = s.split_once('@') {
        return Ok(Source::Image(a.to_owned(), d.to_owned()));
    }
    let (a, t) = stream_tag(s)?;
    Ok(Source::Tag(a, t))
}

async fn tag(client: &Client, ns: &str, args: &Args) -> Result<()> {
    let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
    if args.delete {
        if args.positional.is_empty() {
            bail!("{USAGE}");
        }
        for dest in &args.positional {
            let (stream, t) = stream_tag(dest)?;
            let is = api
                .get(&stream)
                .await
                .with_context(|| format!("imagestream {stream}"))?;
            let tags = is.spec.tags.unwrap_or_default();
            let Some(i) = tags
                .iter()
                .position(|x| x.name.as_deref() == Some(t.as_str()))
            else {
                bail!("imagestream {stream} has no spec tag {t}");
            };
            let patch = serde_json::from_value(json!([
                {"op": "test", "path": format!("/spec/tags/{i}/name"), "value": t},
                {"op": "remove", "path": format!("/spec/tags/{i}")},
            ]))?;
            api.patch(&stream, &PatchParams::default(), &Patch::<()>::Json(patch))
                .await?;
            println!("Deleted spec tag {stream}:{t}.");
        }
        return Ok(());
    }
    let [source, dests @ ..] = args.positional.as_slice() else {
        bail!("{USAGE}");
    };
    if dests.is_empty() {
        bail!("{USAGE}");
    }
    let from = match classify_source(source, args.source.as_deref())? {
        Source::Docker(spec) => json!({"kind": "DockerImage", "name": spec}),
        Source::Image(s, d) => json!({"kind": "ImageStreamImage", "name": format!("{s}@{d}")}),
        Source::Tag(s, t) if args.alias => {
            json!({"kind": "ImageStreamTag", "name": format!("{s}:{t}")})
        }
        Source::Tag(s, t) => {
            // pin the source's current image, as `oc tag` does without --alias
            let is = api
                .get(&s)
                .await
                .with_context(|| format!("imagestream {s}"))?;
            let digest = is
                .status
                .and_then(|st| st.tags)
                .into_iter()
                .flatten()
                .find(|x| x.tag.as_deref() == Some(t.as_str()))
                .and_then(|x| x.items)
                .and_then(|i| i.into_iter().next())
                .and_then(|e| e.image)
                .filter(|d| !d.is_empty())
                .ok_or_else(|| anyhow!("{s}:{t} has no image yet (use --alias to track it)"))?;
            json!({"kind": "ImageStreamImage", "name": format!("{s}@{digest}")})
        }
    };
    for dest in dests {
        let (stream, t) = stream_tag(dest)?;
        set_tag(
            &api,
            &stream,
            &t,
            Some(spec_tag(&t, from.clone(), args)),
            None,
        )
        .await?;
        println!(
            "Tag {stream}:{t} set to {} {}.",
            from["kind"].as_str().unwrap_or_default(),
            from["name"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

async fn import_image(client: &Client, ns: &str, args: &Args) -> Result<()> {
    let [target] = args.positional.as_slice() else {
        bail!("{USAGE}");
    };
    let (stream, t) = stream_tag(target)?;
    let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
    let existing = api.get_opt(&stream).await?;
    let has_tag = existing
        .as_ref()
        .and_then(|is| is.spec.tags.as_ref())
        .is_some_and(|tags| tags.iter().any(|x| x.name.as_deref() == Some(t.as_str())));
    let tag = match (&args.from, existing.is_some(), has_tag) {
        (Some(_), false, _) if !args.confirm => {
            bail!("imagestream {stream} does not exist; add --confirm to create it")
        }
        (Some(from), _, _) => Some(spec_tag(
            &t,
            json!({"kind": "DockerImage", "name": from}),
            args,
        )),
        (None, true, true) => None,
        (None, true, false) => {
            bail!("imagestream {stream} has no spec tag {t}; name its image with --from")
        }
        (None, false, _) => {
            bail!("imagestream {stream} does not exist; create it with --from=PULLSPEC --confirm")
        }
    };
    let before = existing.as_ref().map(|is| tag_state(is, &t));
    let value = nonce();
    set_tag(&api, &stream, &t, tag, Some(&value)).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let is = api.get(&stream).await?;
        let now = tag_state(&is, &t);
        if Some(&now) != before.as_ref() && now != TagState::default() {
            match (now.image, now.failure) {
                (_, Some(f)) => bail!("import of {stream}:{t} failed: {f}"),
                (Some(img), None) => {
                    println!("{stream}:{t} imported: {img}");
                    return Ok(());
                }
                (None, None) => {}
            }
        } else if std::time::Instant::now() > deadline {
            // an unchanged digest leaves status as it was: report what is there
            let now = tag_state(&is, &t);
            match (now.image, now.failure) {
                (_, Some(f)) => bail!("import of {stream}:{t} failed: {f}"),
                (Some(img), None) => {
                    println!("{stream}:{t} is up to date: {img}");
                    return Ok(());
                }
                (None, None) => bail!(
                    "no import result for {stream}:{t} within 60s; is the ImageStream controller running?"
                ),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct TagState {
    image: Option<String>,
    failure: Option<String>,
}

fn tag_state(is: &ImageStream, tag: &str) -> TagState {
    let t = is
        .status
        .as_ref()
        .and_then(|s| s.tags.as_ref())
        .and_then(|tags| tags.iter().find(|x| x.tag.as_deref() == Some(tag)));
    TagState {
        image: t
            .and_then(|x| x.items.as_ref())
            .and_then(|i| i.first())
            .and_then(|e| e.docker_image_reference.clone()),
        failure: t
            .and_then(|x| x.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.status.as_deref() == Some("False")))
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default()
                )
            }),
    }
}

/// Runs `import-image` or `tag`.
pub async fn run(argv: &[String]) -> Result<()> {
    let args = parse(argv)?;
    let config = kube::Config::infer().await.context("reading kubeconfig")?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config)?;
    match args.verb.as_str() {
        "import-image" => import_image(&client, &ns, &args).await,
        "tag" => tag(&client, &ns, &args).await,
        other => bail!("unknown verb {other}\n{USAGE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn dispatch_and_flags() {
        assert!(handles(&argv("tag a:1 b:2")));
        assert!(handles(&argv("-n x import-image app")));
        assert!(!handles(&argv("rollout latest dc/x")));
        let a = parse(&argv("import-image app:1 --from=quay.io/x/app:1 --confirm --insecure --scheduled --import-mode PreserveOriginal -n dev")).expect("valid");
        assert_eq!(a.verb, "import-image");
        assert_eq!(a.positional, ["app:1"]);
        assert_eq!(a.from.as_deref(), Some("quay.io/x/app:1"));
        assert!(a.confirm && a.insecure && a.scheduled);
        assert_eq!(a.namespace.as_deref(), Some("dev"));
        assert!(parse(&argv("tag a b --import-mode=All")).is_err());
        assert!(parse(&argv("tag a b --bogus")).is_err());
    }

    #[test]
    fn sources_and_patches() {
        assert_eq!(
            classify_source("quay.io/x/y:1", None).expect("ok"),
            Source::Docker("quay.io/x/y:1".into())
        );
        assert_eq!(
            classify_source("app:1", None).expect("ok"),
            Source::Tag("app".into(), "1".into())
        );
        assert_eq!(
            classify_source("app", None).expect("ok"),
            Source::Tag("app".into(), "latest".into())
        );
        assert_eq!(
            classify_source("app@sha256:ab", None).expect("ok"),
            Source::Image("app".into(), "sha256:ab".into())
        );
        assert_eq!(
            classify_source("busybox", Some("docker")).expect("ok"),
            Source::Docker("busybox".into())
        );
        assert!(classify_source("a:b:c", None).is_err());
        let args = parse(&argv("tag x y --scheduled --reference-policy=local")).expect("valid");
        let tag = spec_tag("v1", json!({"kind": "DockerImage", "name": "r/x:1"}), &args);
        assert_eq!(
            tag,
            json!({"name": "v1", "from": {"kind": "DockerImage", "name": "r/x:1"},
                   "importPolicy": {"scheduled": true}, "referencePolicy": {"type": "Local"}})
        );
        let stream = |tags: Value| -> ImageStream {
            serde_json::from_value(
                json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                "metadata": {"name": "app"}, "spec": {"tags": tags}}),
            )
            .expect("stream")
        };
        let empty: ImageStream =
            serde_json::from_value(json!({"apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream", "metadata": {"name": "app"}}))
            .expect("stream");
        assert_eq!(
            upsert_ops(&empty, "v1", tag.clone()),
            json!([{"op": "add", "path": "/spec/tags", "value": [tag]}])
        );
        assert_eq!(
            upsert_ops(&stream(json!([{"name": "a"}])), "v1", tag.clone()),
            json!([{"op": "add", "path": "/spec/tags/-", "value": tag}])
        );
        assert_eq!(
            upsert_ops(
                &stream(json!([{"name": "a"}, {"name": "v1"}])),
                "v1",
                tag.clone()
            ),
            json!([{"op": "test", "path": "/spec/tags/1/name", "value": "v1"},
                   {"op": "replace", "path": "/spec/tags/1", "value": tag}])
        );
    }
}
