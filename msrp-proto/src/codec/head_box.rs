//! Boxed heads, recycled per thread, so that a head is parsed in place and then
//! handed around as a pointer.
//!
//! A [`Head`] is a few hundred bytes. Returned by value it is copied at every
//! hand-over: out of the parser, out of the decoder, into the frame handler, into
//! the state of a chunk being forwarded. The switch's endpoint parses each head
//! straight into a [`HeadBox`] instead and passes the box on. A box dropped
//! anywhere goes back to its thread's pool (each shard is one thread), so
//! forwarding stays free of allocations once warm, without every owner having to
//! give its box back by hand.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::LazyLock;

use super::head::Head;

/// Boxes kept per thread. A shard has a head in hand per connection that is
/// mid-frame; more than this are freed rather than kept.
const POOLED: usize = 256;

thread_local! {
    // The boxes themselves are what is kept: each is handed out as it is.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Head>>> = const { RefCell::new(Vec::new()) };
}

/// What a `HeadBox` reads as while it is being dropped (never otherwise).
static EMPTY: LazyLock<Head> = LazyLock::new(Head::empty);

/// A boxed [`Head`] that goes back to its thread's pool when dropped.
pub(crate) struct HeadBox(Option<Box<Head>>);

impl HeadBox {
    /// A box from the pool, or a new one; its head is empty.
    pub(crate) fn new() -> Self {
        // `try_with`: a box made while the thread exits (its pool already gone)
        // is simply a new one.
        let pooled = POOL
            .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut pool| pool.pop()))
            .ok()
            .flatten();
        Self(Some(pooled.unwrap_or_else(|| Box::new(Head::empty()))))
    }

    /// A box holding a copy of `head`, for state that outlives the frame (a large
    /// message's first head, a relayed request).
    pub(crate) fn copy_of(head: &Head) -> Self {
        let mut boxed = Self::new();
        boxed.clone_from(head);
        boxed
    }
}

impl Default for HeadBox {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HeadBox {
    fn drop(&mut self) {
        let Some(mut head) = self.0.take() else {
            return;
        };
        // A pooled head must not keep the read buffer its bytes came from.
        head.release();
        // A thread that is exiting has no pool left (`try_with` fails rather
        // than panicking in a destructor): the box is simply freed.
        let _ = POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut()
                && pool.len() < POOLED
            {
                pool.push(head);
            }
        });
    }
}

impl Deref for HeadBox {
    type Target = Head;

    fn deref(&self) -> &Head {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl DerefMut for HeadBox {
    fn deref_mut(&mut self) -> &mut Head {
        // Only `drop` empties the box; until then it always holds a head.
        self.0.get_or_insert_with(|| Box::new(Head::empty()))
    }
}

impl std::fmt::Debug for HeadBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::BytesMut;

    use crate::codec::{Decoder, Limits};

    #[test]
    fn a_dropped_box_is_reused_and_holds_no_bytes() {
        let mut first = HeadBox::new();
        let mut buf = BytesMut::from(
            &b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://b.example.com:7394/s1;tcp\r\n\
               From-Path: msrp://a.example.com:7394/s2;tcp\r\n-------a786hjs2$\r\n"[..],
        );
        let mut decoder = Decoder::new(Limits::default());
        let step = decoder.decode_into(&mut buf, &mut first);
        assert!(matches!(step, Ok(Some(crate::codec::decode::Step::Head))));
        assert_eq!(first.transaction_id().as_str(), "a786hjs2");
        let address: *const Head = &*first;
        drop(first);
        let second = HeadBox::new();
        assert_eq!(&*second as *const Head, address, "the same box again");
        assert!(second.as_bytes().is_empty(), "its old bytes are gone");
    }
}
