//! Names of temporary objects: the files and objects a write fills before publishing them
//! under their key. Every backend marks them the same way, so that listings hide them and
//! [`Storage::sweep_temp`](crate::Storage::sweep_temp) finds the ones a killed write left.

use ring::rand::{SecureRandom, SystemRandom};

/// Names of temporary objects start with this; listings never show them.
pub(crate) const TEMP_MARK: &str = ".lifeboat-tmp-";

/// A fresh, unguessable temporary name (no folder).
pub(crate) fn temp_name() -> String {
    let mut rnd = [0u8; 8];
    // SystemRandom only fails when the OS has no entropy source at all; a fixed suffix
    // then still works where creation refuses to reuse a name (O_EXCL, a conditional put).
    let _ = SystemRandom::new().fill(&mut rnd);
    format!("{TEMP_MARK}{}", hex::encode(rnd))
}
