//! The agent image: pinned by digest in the config, checked before every run.
//!
//! A reference is either an image ID (`sha256:<hex>` or 64 hex digits) or a
//! name pinned to a manifest digest (`name@sha256:<hex>`); a bare tag is
//! refused. Before each run the engine's `image inspect` output is parsed and
//! the image's ID (or manifest digest, and optionally its layer diff_ids) must
//! equal what is configured. The run then names the image by its verified ID,
//! so a tag moved between the check and the run cannot change what starts.

use serde::Deserialize;

/// Why an image reference or an inspected image is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The configured reference is not pinned by digest.
    #[error("`{0}` is not pinned: use name@sha256:<64 hex>, sha256:<64 hex> or an image ID")]
    NotPinned(String),
    /// The engine does not have the image.
    #[error("image `{0}` is not present locally: build or load it (no image is ever pulled)")]
    NotFound(String),
    /// The engine's image differs from the configured one.
    #[error("image `{reference}` does not match the configured digest: expected {expected}, the engine has {found}")]
    Mismatch {
        /// The configured reference.
        reference: String,
        /// What the config pins.
        expected: String,
        /// What the engine reported.
        found: String,
    },
    /// The engine's `image inspect` output could not be understood.
    #[error("cannot read the engine's image inspect output: {0}")]
    Inspect(String),
}

/// A configured image reference, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An image ID: the digest of the image's config (64 lowercase hex digits).
    Id(String),
    /// A name pinned to a manifest digest.
    Digest {
        /// The repository name, e.g. `localhost/carapace-agent`.
        name: String,
        /// The manifest digest (64 lowercase hex digits).
        digest: String,
    },
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'/' | b'-' | b':')
        })
}

impl ImageRef {
    /// Parses a configured reference; anything not pinned by digest is refused.
    pub fn parse(text: &str) -> Result<ImageRef, ImageError> {
        let not_pinned = || ImageError::NotPinned(text.chars().take(300).collect());
        let bare = text.strip_prefix("sha256:").unwrap_or(text);
        if is_sha256_hex(bare) {
            return Ok(ImageRef::Id(bare.to_owned()));
        }
        let (name, digest) = text.split_once("@sha256:").ok_or_else(not_pinned)?;
        if !valid_name(name) || !is_sha256_hex(digest) {
            return Err(not_pinned());
        }
        Ok(ImageRef::Digest {
            name: name.to_owned(),
            digest: digest.to_owned(),
        })
    }

    /// The reference handed to `image inspect`.
    pub fn inspect_reference(&self) -> String {
        match self {
            ImageRef::Id(id) => id.clone(),
            ImageRef::Digest { name, digest } => format!("{name}@sha256:{digest}"),
        }
    }
}

/// What `image inspect` says about one image, digests as bare hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image ID (config digest).
    pub id: String,
    /// Manifest digests the engine knows the image by.
    pub digests: Vec<String>,
    /// The layer diff_ids, in order (with their `sha256:` prefix).
    pub layers: Vec<String>,
}

/// An image that passed [`verify`]: run it by this ID and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    /// The image ID (64 hex digits).
    pub id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OciInspect {
    id: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default, rename = "RootFS")]
    root_fs: Option<OciRootFs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OciRootFs {
    #[serde(default)]
    layers: Option<Vec<String>>,
}

fn strip_digest(text: &str) -> Option<String> {
    let hex = text.rsplit_once("sha256:").map_or(text, |(_, hex)| hex);
    is_sha256_hex(hex).then(|| hex.to_owned())
}

/// Parses podman's or docker's `image inspect --format json` output (an array of one image).
pub fn parse_oci_inspect(json: &[u8]) -> Result<ImageFacts, ImageError> {
    let images: Vec<OciInspect> =
        serde_json::from_slice(json).map_err(|e| ImageError::Inspect(e.to_string()))?;
    let [image] = <[OciInspect; 1]>::try_from(images)
        .map_err(|v| ImageError::Inspect(format!("expected one image, got {}", v.len())))?;
    let id = strip_digest(&image.id)
        .ok_or_else(|| ImageError::Inspect("the image ID is not a sha256 digest".into()))?;
    let digests = image
        .digest
        .iter()
        .chain(image.repo_digests.iter().flatten())
        .filter_map(|d| strip_digest(d))
        .collect();
    let layers = image.root_fs.and_then(|r| r.layers).unwrap_or_default();
    Ok(ImageFacts {
        id,
        digests,
        layers,
    })
}

/// Checks inspected facts against the configured reference and layers.
pub fn verify(
    reference: &ImageRef,
    layers: &[String],
    facts: &ImageFacts,
) -> Result<VerifiedImage, ImageError> {
    let mismatch = |expected: String, found: String| ImageError::Mismatch {
        reference: reference.inspect_reference(),
        expected,
        found,
    };
    match reference {
        ImageRef::Id(id) if *id != facts.id => return Err(mismatch(id.clone(), facts.id.clone())),
        ImageRef::Digest { digest, .. }
            if *digest != facts.id && !facts.digests.contains(digest) =>
        {
            return Err(mismatch(digest.clone(), facts.digests.join(", ")));
        }
        _ => {}
    }
    if !layers.is_empty() && layers != facts.layers.as_slice() {
        return Err(mismatch(
            format!("layers {}", layers.join(",")),
            format!("layers {}", facts.layers.join(",")),
        ));
    }
    Ok(VerifiedImage {
        id: facts.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/containers/podman-image-inspect.json"
    ));
    const ID: &str = "f915d1036a7d7b6803309843875662d2a91f9a3731fc14ead17aee567781f310";
    const MANIFEST: &str = "820628f795d4e1f5ecd2079b11f84ffbcc996e961dd46a5147c434d733a43b5e";

    #[test]
    fn references_must_be_pinned() {
        assert_eq!(ImageRef::parse(ID), Ok(ImageRef::Id(ID.into())));
        assert_eq!(
            ImageRef::parse(&format!("sha256:{ID}")),
            Ok(ImageRef::Id(ID.into()))
        );
        let pinned = ImageRef::parse(&format!("localhost/agent@sha256:{MANIFEST}")).expect("ok");
        assert_eq!(
            pinned.inspect_reference(),
            format!("localhost/agent@sha256:{MANIFEST}")
        );
        for bad in [
            "busybox",
            "busybox:latest",
            "-x@sha256:00",
            "a@sha256:ABC",
            &ID[1..],
        ] {
            assert!(
                matches!(ImageRef::parse(bad), Err(ImageError::NotPinned(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_captured_podman_inspect_is_parsed() {
        let facts = parse_oci_inspect(SAMPLE.as_bytes()).expect("parses");
        assert_eq!(facts.id, ID);
        assert_eq!(
            facts.digests,
            vec![MANIFEST.to_owned(), MANIFEST.to_owned()]
        );
        assert_eq!(
            facts.layers,
            vec!["sha256:b5fbe85e22b0cd03250b9718f8fb13fe63c71bdce9f8f2519126f376488dd456"]
        );
        assert!(parse_oci_inspect(b"[]").is_err());
        assert!(parse_oci_inspect(b"{\"Id\":1}").is_err());
        assert!(parse_oci_inspect(b"[{\"Id\":\"not-a-digest\"}]").is_err());
    }

    #[test]
    fn verification_compares_id_digest_and_layers() {
        let facts = parse_oci_inspect(SAMPLE.as_bytes()).expect("parses");
        let by_id = ImageRef::Id(ID.into());
        assert_eq!(verify(&by_id, &[], &facts).map(|v| v.id), Ok(ID.to_owned()));
        let by_digest = ImageRef::parse(&format!("localhost/x@sha256:{MANIFEST}")).expect("ok");
        assert!(verify(&by_digest, &[], &facts).is_ok());
        let wrong = ImageRef::Id("0".repeat(64));
        let err = verify(&wrong, &[], &facts).expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
        let layers = vec!["sha256:".to_owned() + &"1".repeat(64)];
        assert!(matches!(
            verify(&by_id, &layers, &facts),
            Err(ImageError::Mismatch { .. })
        ));
        assert!(verify(&by_id, &facts.layers, &facts).is_ok());
    }
}
