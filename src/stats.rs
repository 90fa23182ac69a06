//! Per-image statistics. Counted in plain fields by the image's own thread: counting must not
//! add shared-memory traffic to the paths it measures.

use std::ops::AddAssign;

/// What one image has done to the heap so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImageStats {
    /// Base objects this image copied on its first write to them.
    pub copies: u64,
    /// Forwarders this image installed (it won the CAS on a base header).
    pub forwarders_installed: u64,
    /// Entries this image added to forwarders other images had installed.
    pub entries_added: u64,
    /// Forwarder look-ups: base objects found forwarded on a read or write.
    pub lookups: u64,
    /// Private slots rewritten to point straight at this image's target (lazy become).
    pub fixups: u64,
    /// `become_forward` calls that redirected something.
    pub becomes: u64,
    /// Private objects allocated (copies not included).
    pub allocations: u64,
    /// Bytes of this image's private space: its copies and allocations.
    pub private_bytes: u64,
}

impl AddAssign for ImageStats {
    fn add_assign(&mut self, o: ImageStats) {
        self.copies += o.copies;
        self.forwarders_installed += o.forwarders_installed;
        self.entries_added += o.entries_added;
        self.lookups += o.lookups;
        self.fixups += o.fixups;
        self.becomes += o.becomes;
        self.allocations += o.allocations;
        self.private_bytes += o.private_bytes;
    }
}
