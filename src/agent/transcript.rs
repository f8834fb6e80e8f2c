//! The raw transcript of a session: every line the agent printed, verbatim,
//! at `state/agent/<group>/<session>.jsonl` (directories 0700, file 0600), in the
//! core's own state where no plugin's data directory reaches.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::paths::{create_private_dir, Home};

/// `state/agent/<group>/`.
pub fn group_dir(home: &Home, group: &str) -> PathBuf {
    home.agent_dir(group)
}

/// An open transcript file.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    file: tokio::fs::File,
}

impl Transcript {
    /// Creates the transcript of `session` (a new file; an existing one is an error).
    pub fn create(home: &Home, group: &str, session: &str) -> std::io::Result<Transcript> {
        let state = home.state_dir();
        for dir in [state.clone(), state.join("agent"), group_dir(home, group)] {
            create_private_dir(&dir)?;
        }
        let path = group_dir(home, group).join(format!("{session}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Transcript {
            path,
            file: tokio::fs::File::from_std(file),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (a newline is added).
    pub async fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.file.write_all(line).await?;
        self.file.write_all(b"\n").await
    }

    /// Flushes what was written to the disk.
    pub async fn finish(mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_data().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn the_transcript_is_private_and_verbatim() {
        let root = tempfile::tempdir().expect("tmp");
        let home = Home::at(root.path().to_owned());
        let mut transcript = Transcript::create(&home, "main", "0011").expect("create");
        transcript
            .append(b"{\"type\":\"system\"}")
            .await
            .expect("write");
        transcript.append(b"not json").await.expect("write");
        let path = transcript.path().to_owned();
        transcript.finish().await.expect("flush");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"type\":\"system\"}\nnot json\n"
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&group_dir(&home, "main")), 0o700);
        assert!(
            Transcript::create(&home, "main", "0011").is_err(),
            "never reused"
        );
    }
}
