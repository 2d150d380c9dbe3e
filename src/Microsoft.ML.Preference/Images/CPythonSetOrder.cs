using System.Numerics;

namespace Microsoft.ML.Preference.Images;

/// <summary>
/// The order in which 64-bit CPython (3.8 and later) iterates a <c>set</c> of (int, int) tuples built by adding them
/// one at a time.
/// </summary>
/// <remarks>
/// InternVL builds its candidate grids as a Python set and then sorts them stably by cols·rows, so grids with the
/// same product keep the set's iteration order, and with <c>min_num &gt; 1</c> that order can pick the grid. The
/// order is not a simple rule: it depends on the tuple hashes, the table size and the resizes on the way. The only
/// exact description is the algorithm itself, so this class replays it:
/// <list type="bullet">
/// <item>hash of a small non-negative int = the int; hash of a tuple = xxHash-style <c>tuplehash</c>
/// (Objects/tupleobject.c, unchanged since 3.8);</item>
/// <item>the table starts with 8 slots; a key goes to slot <c>hash &amp; mask</c>, else the next of up to 9
/// following slots (LINEAR_PROBES, only while they stay inside the table), else perturbed open addressing
/// <c>i = (5i + 1 + (perturb &gt;&gt;= 5)) &amp; mask</c> (Objects/setobject.c, set_add_entry);</item>
/// <item>after adding a new key, when fill·5 ≥ mask·3 the table grows to the smallest power of two above
/// used·4 (used·2 past 50,000) and the old slots are re-inserted in slot order (set_table_resize,
/// set_insert_clean); adding a key already present changes nothing;</item>
/// <item>iteration walks the slots in order.</item>
/// </list>
/// Checked against the real interpreters 3.8 to 3.13 (identical there) in tests/.../TestData/vision/cpython_set_order.txt.
/// </remarks>
internal static class CPythonSetOrder
{
    private const int MinSize = 8;        // PySet_MINSIZE
    private const int LinearProbes = 9;   // LINEAR_PROBES
    private const int PerturbShift = 5;   // PERTURB_SHIFT

    /// <summary><c>hash((a, b))</c> on 64-bit CPython ≥ 3.8 for 0 ≤ a, b &lt; 2^61 − 1 (whose int hash is the value itself).</summary>
    public static ulong TupleHash(int a, int b)
    {
        if (a < 0 || b < 0)
            throw new ArgumentOutOfRangeException(a < 0 ? nameof(a) : nameof(b), "Only non-negative ints hash to themselves.");
        const ulong Prime1 = 11400714785074694791UL, Prime2 = 14029467366897019727UL, Prime5 = 2870177450012600261UL;
        unchecked
        {
            ulong acc = Prime5;
            acc = BitOperations.RotateLeft(acc + (ulong)a * Prime2, 31) * Prime1;
            acc = BitOperations.RotateLeft(acc + (ulong)b * Prime2, 31) * Prime1;
            acc += 2UL ^ (Prime5 ^ 3527539UL);   // the tuple length, mangled to keep hash(()) historic
            return acc == ulong.MaxValue ? 1546275796UL : acc;   // -1 is reserved for errors
        }
    }

    /// <summary>The iteration order of <c>set(keys)</c>, keys added in the order given (duplicates allowed).</summary>
    public static List<(int A, int B)> IterationOrder(IEnumerable<(int A, int B)> keys)
    {
        var table = new Table(MinSize);
        foreach (var key in keys)
        {
            ulong hash = TupleHash(key.A, key.B);
            if (!table.Add(key, hash, checkExisting: true))
                continue;
            // set_add_entry resizes right after a new key lands, judged on the *old* mask.
            if ((ulong)table.Used * 5 >= table.Mask * 3)
                table = table.Resized(table.Used > 50000 ? table.Used * 2 : table.Used * 4);
        }
        return table.InSlotOrder();
    }

    private sealed class Table
    {
        private readonly (int A, int B)[] keys;
        private readonly ulong[] hashes;
        private readonly bool[] occupied;

        public Table(int size)
        {
            keys = new (int, int)[size];
            hashes = new ulong[size];
            occupied = new bool[size];
        }

        public ulong Mask => (ulong)keys.Length - 1;

        public int Used { get; private set; }

        /// <summary>Adds the key unless it is present; false when it was. Without checkExisting it is set_insert_clean.</summary>
        public bool Add((int A, int B) key, ulong hash, bool checkExisting)
        {
            ulong mask = Mask;
            ulong i = hash & mask;
            ulong perturb = hash;
            while (true)
            {
                // The slot itself plus LINEAR_PROBES neighbours, but only when they all lie inside the table.
                int probes = i + LinearProbes <= mask ? LinearProbes : 0;
                for (int k = 0; k <= probes; k++)
                {
                    ulong slot = i + (ulong)k;
                    if (!occupied[slot])
                    {
                        occupied[slot] = true;
                        keys[slot] = key;
                        hashes[slot] = hash;
                        Used++;
                        return true;
                    }
                    if (checkExisting && hashes[slot] == hash && keys[slot] == key)
                        return false;
                }
                perturb >>= PerturbShift;
                i = unchecked(i * 5 + 1 + perturb) & mask;
            }
        }

        public Table Resized(int minUsed)
        {
            int size = MinSize;
            while (size <= minUsed)
                size <<= 1;
            var grown = new Table(size);
            for (int s = 0; s < keys.Length; s++)
                if (occupied[s])
                    grown.Add(keys[s], hashes[s], checkExisting: false);
            return grown;
        }

        public List<(int A, int B)> InSlotOrder()
        {
            var order = new List<(int, int)>(Used);
            for (int s = 0; s < keys.Length; s++)
                if (occupied[s])
                    order.Add(keys[s]);
            return order;
        }
    }
}
