// Library: how the dispersion stages `emit` and `transport` see a batch of members (ensemble
// or sweep members on one grid, stepped together in one dispatch; a single run is a batch of
// one). Members live in consecutive planes: plane = member · np + pollutant, each plane a
// [row][column] field, so every buffer indexed by plane (state, time integral, outflow) holds
// the members one after the other.
//
// Members advance by different numbers of steps in an interval (their winds differ), so the
// host runs the batch for the largest number of rounds and flags, per round and member,
// whether the member steps in it; a member that does not step is left alone by both sweeps
// (its state stays in the first of the two buffers, where every round ends). A dispatch knows its round within the submission from its uniform (one uniform per
// round slot and sweep, written once), and reads the flags from `control`.
//
// `control` (u32 words): [0] the number of emitting cells, then MEMBER_WORDS per member
// (K·dt/dx², K·dt/dy², two unused, the removal fraction of each of 8 pollutants, all units of
// 2^-30), then from `flags_at` one word per round slot and member: bit 0 the member steps in
// this round, bit 1 its step is odd (the step's first sweep is along y). The host twin is
// `dispersion::engine::GpuBatch`; each member's arithmetic is exactly the single-run CPU twin's.

struct BatchStep {
    nx: u32,
    ny: u32,
    np: u32,
    // member slots in the batch
    members: u32,
    // this dispatch's round within its submission
    round: u32,
    // 0: the step's first sweep, 1: its last (removal and the time integral)
    sweep: u32,
    flags_at: u32,
    _pad: u32,
}

const CONTROL_HEAD: u32 = 4u;
const MEMBER_WORDS: u32 = 12u;
