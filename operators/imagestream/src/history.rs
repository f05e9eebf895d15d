//! The tag-history update rule (OpenShift's `AddTagEventToImageStream`, spec §3.5) and the
//! `ImportSuccess` conditions of `status.tags[]`.
//!
//! History is newest first; `items[0]` is the tag's current image. Adding an event:
//! - no history: the event becomes the history;
//! - head has the same `dockerImageReference`, `image` and `generation`: nothing changes;
//! - same reference and image: the head's generation is updated;
//! - same reference, other image: the head's image (and generation) is replaced;
//! - same image, other reference: the head's reference (and generation) is replaced;
//! - otherwise the event is prepended (history grows; it is never trimmed here).
//!
//! In every changed case the tag's conditions are cleared.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use outrigger_api::image::{ImageStreamStatus, NamedTagEventList, TagEvent, TagEventCondition};

/// The only condition type of a status tag.
pub const IMPORT_SUCCESS: &str = "ImportSuccess";

/// The status tag `tag`, if present.
pub fn status_tag<'a>(status: &'a ImageStreamStatus, tag: &str) -> Option<&'a NamedTagEventList> {
    status
        .tags
        .as_ref()?
        .iter()
        .find(|t| t.tag.as_deref() == Some(tag))
}

/// The current (newest) event of `tag`.
pub fn head<'a>(status: &'a ImageStreamStatus, tag: &str) -> Option<&'a TagEvent> {
    status_tag(status, tag)?.items.as_ref()?.first()
}

fn status_tag_mut<'a>(status: &'a mut ImageStreamStatus, tag: &str) -> &'a mut NamedTagEventList {
    let tags = status.tags.get_or_insert_with(Vec::new);
    let idx = match tags.iter().position(|t| t.tag.as_deref() == Some(tag)) {
        Some(i) => i,
        None => {
            tags.push(NamedTagEventList {
                tag: Some(tag.to_owned()),
                ..NamedTagEventList::default()
            });
            tags.len() - 1
        }
    };
    &mut tags[idx]
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}

/// Adds `event` to the history of `tag` by the rule above. Returns whether the status changed.
pub fn add_tag_event(status: &mut ImageStreamStatus, tag: &str, event: TagEvent) -> bool {
    let list = status_tag_mut(status, tag);
    let items = list.items.get_or_insert_with(Vec::new);
    let changed = match items.first_mut() {
        None => {
            items.push(event);
            true
        }
        Some(head) => {
            let same_ref = same(&head.docker_image_reference, &event.docker_image_reference);
            let same_image = same(&head.image, &event.image);
            if same_ref && same_image && head.generation == event.generation {
                false
            } else if same_ref && same_image {
                head.generation = event.generation;
                true
            } else if same_ref {
                head.image = event.image;
                head.platforms = event.platforms;
                head.generation = event.generation;
                true
            } else if same_image {
                head.docker_image_reference = event.docker_image_reference;
                head.generation = event.generation;
                true
            } else {
                items.insert(0, event);
                true
            }
        }
    };
    if changed {
        list.conditions = None;
    }
    changed
}

/// Records a failed import or resolution of `tag` as `ImportSuccess=False`. The transition time
/// is kept when the condition already said the same (so repeated failures do not rewrite
/// status). Returns whether the status changed.
pub fn set_import_failed(
    status: &mut ImageStreamStatus,
    tag: &str,
    reason: &str,
    message: &str,
    generation: i64,
    now: &Time,
) -> bool {
    let list = status_tag_mut(status, tag);
    let conditions = list.conditions.get_or_insert_with(Vec::new);
    let message = if message.is_empty() {
        "unknown error prevented import"
    } else {
        message
    };
    let new = TagEventCondition {
        type_: Some(IMPORT_SUCCESS.to_owned()),
        status: Some("False".to_owned()),
        last_transition_time: Some(now.clone()),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        generation: Some(generation),
    };
    match conditions
        .iter_mut()
        .find(|c| c.type_.as_deref() == Some(IMPORT_SUCCESS))
    {
        Some(old) => {
            let unchanged = old.status == new.status
                && old.reason == new.reason
                && old.message == new.message
                && old.generation == new.generation;
            if unchanged {
                return false;
            }
            let keep_time = old.status == new.status;
            let time = old.last_transition_time.clone();
            *old = new;
            if keep_time {
                old.last_transition_time = time;
            }
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Removes the conditions of `tag` (after a successful import). Returns whether they existed.
pub fn clear_conditions(status: &mut ImageStreamStatus, tag: &str) -> bool {
    let Some(tags) = status.tags.as_mut() else {
        return false;
    };
    match tags.iter_mut().find(|t| t.tag.as_deref() == Some(tag)) {
        Some(t) if t.conditions.as_ref().is_some_and(|c| !c.is_empty()) => {
            t.conditions = None;
            true
        }
        _ => false,
    }
}

/// The `ImportSuccess` condition of `tag`, if any.
pub fn import_condition<'a>(
    status: &'a ImageStreamStatus,
    tag: &str,
) -> Option<&'a TagEventCondition> {
    status_tag(status, tag)?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some(IMPORT_SUCCESS))
}

/// Drops status tags with neither items nor conditions, as OpenShift does.
pub fn prune_empty(status: &mut ImageStreamStatus) {
    if let Some(tags) = status.tags.as_mut() {
        tags.retain(|t| {
            t.items.as_ref().is_some_and(|i| !i.is_empty())
                || t.conditions.as_ref().is_some_and(|c| !c.is_empty())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use pretty_assertions::assert_eq;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid"))
    }

    fn ev(reference: &str, image: &str, generation: i64, created: i64) -> TagEvent {
        TagEvent {
            created: Some(at(created)),
            docker_image_reference: Some(reference.into()),
            image: Some(image.into()),
            generation: Some(generation),
            platforms: None,
        }
    }

    fn items(s: &ImageStreamStatus, tag: &str) -> Vec<(String, String, i64)> {
        status_tag(s, tag)
            .and_then(|t| t.items.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.docker_image_reference.unwrap_or_default(),
                    e.image.unwrap_or_default(),
                    e.generation.unwrap_or_default(),
                )
            })
            .collect()
    }

    fn t(r: &str, i: &str, g: i64) -> (String, String, i64) {
        (r.into(), i.into(), g)
    }

    #[test]
    fn first_event_starts_history() {
        let mut s = ImageStreamStatus::default();
        assert!(add_tag_event(&mut s, "latest", ev("r@a", "a", 1, 10)));
        assert_eq!(items(&s, "latest"), vec![t("r@a", "a", 1)]);
    }

    #[test]
    fn identical_head_is_no_change() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "latest", ev("r@a", "a", 1, 10));
        set_import_failed(&mut s, "latest", "NotFound", "gone", 1, &at(11));
        let before = s.clone();
        assert!(!add_tag_event(&mut s, "latest", ev("r@a", "a", 1, 20)));
        // not even the condition is cleared when nothing changed
        assert_eq!(s, before);
    }

    #[test]
    fn generation_only_updates_head() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "x", ev("r@a", "a", 1, 10));
        assert!(add_tag_event(&mut s, "x", ev("r@a", "a", 3, 20)));
        assert_eq!(items(&s, "x"), vec![t("r@a", "a", 3)]);
        // created of the head is kept
        assert_eq!(head(&s, "x").and_then(|e| e.created.clone()), Some(at(10)));
    }

    #[test]
    fn same_reference_new_image_replaces_head_image() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "x", ev("r:1", "a", 1, 10));
        assert!(add_tag_event(&mut s, "x", ev("r:1", "b", 2, 20)));
        assert_eq!(items(&s, "x"), vec![t("r:1", "b", 2)]);
    }

    #[test]
    fn same_image_new_reference_replaces_head_reference() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "x", ev("old@a", "a", 1, 10));
        assert!(add_tag_event(&mut s, "x", ev("new@a", "a", 1, 20)));
        assert_eq!(items(&s, "x"), vec![t("new@a", "a", 1)]);
    }

    #[test]
    fn new_image_is_prepended_and_history_grows() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "x", ev("r@a", "a", 1, 10));
        assert!(add_tag_event(&mut s, "x", ev("r@b", "b", 1, 20)));
        assert!(add_tag_event(&mut s, "x", ev("r@a", "a", 1, 30)));
        assert_eq!(
            items(&s, "x"),
            vec![t("r@a", "a", 1), t("r@b", "b", 1), t("r@a", "a", 1)]
        );
        assert_eq!(head(&s, "x").and_then(|e| e.created.clone()), Some(at(30)));
        // other tags untouched
        assert_eq!(items(&s, "y"), vec![]);
    }

    #[test]
    fn changes_clear_conditions() {
        let mut s = ImageStreamStatus::default();
        add_tag_event(&mut s, "x", ev("r@a", "a", 1, 10));
        assert!(set_import_failed(&mut s, "x", "NotFound", "m", 2, &at(11)));
        assert!(import_condition(&s, "x").is_some());
        assert!(add_tag_event(&mut s, "x", ev("r@b", "b", 2, 20)));
        assert!(import_condition(&s, "x").is_none());
    }

    #[test]
    fn failure_condition_keeps_time_and_is_idempotent() {
        let mut s = ImageStreamStatus::default();
        assert!(set_import_failed(&mut s, "x", "NotFound", "m", 1, &at(10)));
        assert!(!set_import_failed(&mut s, "x", "NotFound", "m", 1, &at(20)));
        assert!(set_import_failed(
            &mut s,
            "x",
            "Unauthorized",
            "",
            1,
            &at(30)
        ));
        let c = import_condition(&s, "x").cloned().expect("condition");
        assert_eq!(c.last_transition_time, Some(at(10)));
        assert_eq!(c.reason.as_deref(), Some("Unauthorized"));
        assert_eq!(c.message.as_deref(), Some("unknown error prevented import"));
        assert_eq!(c.status.as_deref(), Some("False"));
        assert!(clear_conditions(&mut s, "x"));
        assert!(!clear_conditions(&mut s, "x"));
        prune_empty(&mut s);
        assert_eq!(s.tags, Some(vec![]));
    }
}
