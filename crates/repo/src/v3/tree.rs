//! Trees: one blob of kind [`BlobKind::Tree`](super::BlobKind) per directory, whose
//! plaintext is the JSON of docs/FORMAT.md 11.5, nodes sorted by name bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::blob::BlobStore;
use super::error::StoreError;
use super::id::BlobId;

/// A failure of the v3 archiver or restorer, naming the path and the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A local file system operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done ("read file", "create directory", ...).
        operation: &'static str,
        /// The local path.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The blob store failed.
    #[error("{operation} {path}: {source}")]
    Store {
        /// What was being done ("store chunk of", "read tree of", ...).
        operation: &'static str,
        /// The path in the tree (or on disk) the blob belongs to.
        path: String,
        /// The store's error (boxed: it is large, and errors travel by value).
        #[source]
        source: Box<StoreError>,
    },
    /// A tree blob does not parse, or breaks a rule of its format.
    #[error("tree {tree} ({path}) is damaged: {reason}")]
    Corrupt {
        /// The tree's blob id.
        tree: String,
        /// Where it sits in the backup.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A restore refused an entry (a name that would leave the target, a bad link).
    #[error("{path} {reason}; restore refused")]
    Refused {
        /// The entry's path in the backup.
        path: String,
        /// Why.
        reason: String,
    },
    /// A path asked for is not in the tree, or is not what the operation needs.
    #[error("{path}: {reason}")]
    Path {
        /// The path asked for.
        path: String,
        /// What is wrong ("not in the backup", "is not a file", ...).
        reason: String,
    },
    /// Include or exclude patterns do not parse.
    #[error(transparent)]
    Filter(#[from] crate::FilterError),
    /// The restore target cannot be used.
    #[error("restore into {path}: {source}")]
    Target {
        /// The target.
        path: String,
        /// Why.
        #[source]
        source: Box<crate::RepoError>,
    },
}

/// An [`TreeError::Io`] maker for `map_err`.
pub(crate) fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TreeError + use<> {
    let path = path.display().to_string();
    move |source| TreeError::Io { operation, path, source }
}

/// A [`TreeError::Store`] maker for `map_err`.
pub(crate) fn store_error(operation: &'static str, path: &Path) -> impl FnOnce(StoreError) -> TreeError + use<> {
    let path = path.display().to_string();
    move |source| TreeError::Store { operation, path, source: Box::new(source) }
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    /// A regular file: its content is `content`.
    File,
    /// A directory: its listing is the tree `subtree`.
    Dir,
    /// A symbolic link to `target`.
    Symlink,
    /// A named pipe (recorded, never read).
    Fifo,
    /// A character device (`rdev`).
    Chardev,
    /// A block device (`rdev`).
    Blockdev,
}

/// One extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Xattr {
    /// Its name (`user.comment`, `security.capability`, ...).
    pub name: String,
    /// Its value, as hex.
    pub value_hex: String,
}

/// One entry of a directory, with everything `lstat` said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireNode", into = "WireNode")]
pub struct Node {
    /// The entry's name: one path component, any bytes but `/` and NUL.
    pub name: Vec<u8>,
    /// What it is.
    pub kind: NodeType,
    /// Permission bits (`st_mode & 07777`).
    pub mode: u32,
    /// Owner's uid.
    pub uid: u32,
    /// Owner's gid.
    pub gid: u32,
    /// Owner's user name where it resolved when the backup was made.
    pub user: Option<String>,
    /// Owner's group name where it resolved.
    pub group: Option<String>,
    /// Modification time, nanoseconds since the epoch (negative before 1970).
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number when backed up.
    pub inode: u64,
    /// Device of the file system it was on.
    pub device: u64,
    /// Number of hard links.
    pub links: u64,
    /// A file's length in bytes: what was read, which for `/proc` files is not what stat said.
    pub size: u64,
    /// A file's content, chunk ids in order (empty for an empty file).
    pub content: Vec<BlobId>,
    /// A directory's tree.
    pub subtree: Option<BlobId>,
    /// A symlink's target, as stored (bytes).
    pub target: Option<Vec<u8>>,
    /// A device's number.
    pub rdev: Option<u64>,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
    /// The file had holes: restore chunks of zeros as holes.
    pub sparse: bool,
    /// For the second and later names of a file with several links: the path (from the
    /// root tree, `/`-separated) of the first, whose content this node repeats.
    pub hardlink: Option<Vec<u8>>,
}

impl Node {
    /// The name as a path component.
    pub fn name_os(&self) -> &OsStr {
        OsStr::from_bytes(&self.name)
    }

    /// A node of `kind` named `name` with every other field empty.
    pub fn new(name: Vec<u8>, kind: NodeType) -> Node {
        Node {
            name,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 0,
            device: 0,
            links: 0,
            size: 0,
            content: Vec::new(),
            subtree: None,
            target: None,
            rdev: None,
            xattrs: Vec::new(),
            sparse: false,
            hardlink: None,
        }
    }
}

/// Whether `name` can be one component of a restored path: not empty, `.` or `..`, and
/// without `/` or NUL. Anything else could leave the restore target.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// A directory's listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    /// Its entries, sorted by name bytes, names unique.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The canonical JSON: nodes sorted by name bytes, so equal directories are equal blobs.
    pub fn to_json(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        // Serializing plain structs and strings into a Vec cannot fail.
        serde_json::to_vec(&sorted).unwrap_or_default()
    }

    /// Parses a tree blob, refusing names that could leave a restore target, nodes out of
    /// order or repeated, and nodes whose fields do not fit their type.
    pub fn from_json(bytes: &[u8]) -> Result<Tree, String> {
        let tree: Tree = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        for pair in tree.nodes.windows(2) {
            if pair[0].name >= pair[1].name {
                return Err(format!("node {:?} is out of order or repeated", String::from_utf8_lossy(&pair[1].name)));
            }
        }
        for node in &tree.nodes {
            let shown = String::from_utf8_lossy(&node.name);
            if !valid_name(&node.name) {
                return Err(format!("node name {shown:?} is not a plain file name"));
            }
            let fits = match node.kind {
                NodeType::Dir => node.subtree.is_some(),
                NodeType::Symlink => node.target.is_some(),
                NodeType::Chardev | NodeType::Blockdev => node.rdev.is_some(),
                NodeType::File | NodeType::Fifo => true,
            };
            if !fits {
                return Err(format!("node {shown:?} lacks what a {:?} needs", node.kind));
            }
        }
        Ok(tree)
    }

    /// The node named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().map(|i| &self.nodes[i])
    }
}

/// Reads and parses tree `id` (which sits at `path` in the backup).
pub async fn load_tree<S: BlobStore>(store: &S, id: &BlobId, path: &Path) -> Result<Tree, TreeError> {
    let bytes = store.get_blob(id).await.map_err(store_error("read tree of", path))?;
    Tree::from_json(&bytes).map_err(|reason| TreeError::Corrupt {
        tree: id.to_hex(),
        path: path.display().to_string(),
        reason,
    })
}

/// The components of a path inside a backup (`/` and `.` ignored); `None` when one is `..`.
pub fn tree_components(path: &Path) -> Option<Vec<Vec<u8>>> {
    use std::path::Component;
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name.as_bytes().to_vec()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `parent/name` for a path inside a backup.
pub(crate) fn child_path(parent: &Path, name: &[u8]) -> PathBuf {
    parent.join(OsStr::from_bytes(name))
}

/// The JSON shape of a node: a name that is not UTF-8 (and a symlink target or hard link
/// path that is not) goes into a `_hex` field instead.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_hex: Option<String>,
    #[serde(rename = "type")]
    kind: NodeType,
    mode: u32,
    uid: u32,
    gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    mtime_ns: i64,
    ctime_ns: i64,
    inode: u64,
    device: u64,
    links: u64,
    #[serde(default)]
    size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    content: Vec<BlobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtree: Option<BlobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rdev: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    xattrs: Vec<Xattr>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sparse: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hardlink: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hardlink_hex: Option<String>,
}

/// Bytes as (text, None) when UTF-8, else (None, hex).
fn split_bytes(bytes: Option<Vec<u8>>) -> (Option<String>, Option<String>) {
    match bytes.map(String::from_utf8) {
        None => (None, None),
        Some(Ok(text)) => (Some(text), None),
        Some(Err(e)) => (None, Some(hex::encode(e.into_bytes()))),
    }
}

/// The inverse of [`split_bytes`]; both set is an error.
fn join_bytes(field: &str, text: Option<String>, hex_text: Option<String>) -> Result<Option<Vec<u8>>, String> {
    match (text, hex_text) {
        (Some(_), Some(_)) => Err(format!("both {field} and {field}_hex are set")),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(h)) => hex::decode(h).map(Some).map_err(|e| format!("{field}_hex: {e}")),
        (None, None) => Ok(None),
    }
}

impl From<Node> for WireNode {
    fn from(node: Node) -> WireNode {
        let (name, name_hex) = split_bytes(Some(node.name));
        let (target, target_hex) = split_bytes(node.target);
        let (hardlink, hardlink_hex) = split_bytes(node.hardlink);
        WireNode {
            name,
            name_hex,
            kind: node.kind,
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            user: node.user,
            group: node.group,
            mtime_ns: node.mtime_ns,
            ctime_ns: node.ctime_ns,
            inode: node.inode,
            device: node.device,
            links: node.links,
            size: node.size,
            content: node.content,
            subtree: node.subtree,
            target,
            target_hex,
            rdev: node.rdev,
            xattrs: node.xattrs,
            sparse: node.sparse,
            hardlink,
            hardlink_hex,
        }
    }
}

impl TryFrom<WireNode> for Node {
    type Error = String;

    fn try_from(wire: WireNode) -> Result<Node, String> {
        let name = join_bytes("name", wire.name, wire.name_hex)?.ok_or("a node has no name")?;
        Ok(Node {
            name,
            kind: wire.kind,
            mode: wire.mode,
            uid: wire.uid,
            gid: wire.gid,
            user: wire.user,
            group: wire.group,
            mtime_ns: wire.mtime_ns,
            ctime_ns: wire.ctime_ns,
            inode: wire.inode,
            device: wire.device,
            links: wire.links,
            size: wire.size,
            content: wire.content,
            subtree: wire.subtree,
            target: join_bytes("target", wire.target, wire.target_hex)?,
            rdev: wire.rdev,
            xattrs: wire.xattrs,
            sparse: wire.sparse,
            hardlink: join_bytes("hardlink", wire.hardlink, wire.hardlink_hex)?,
        })
    }
}

/// A v3 archiver or restorer failure as a repository error.
pub(crate) fn tree_error(e: TreeError) -> crate::error::RepoError {
    match e {
        TreeError::Store { source, .. } if matches!(*source, StoreError::Storage { .. }) => {
            super::error::store_error(*source)
        }
        TreeError::Filter(e) => crate::error::RepoError::Filter(e),
        TreeError::Target { source, .. } => *source,
        e @ TreeError::Io { .. } => crate::error::RepoError::Source(e.to_string()),
        e => crate::error::RepoError::Integrity(e.to_string()),
    }
}
