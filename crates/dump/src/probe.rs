//! Probing a database server without dumping it: reachable, its version, how large
//! (what `lifeboat dr assess` reports per source). Placeholder (issue 13, assess helper).
