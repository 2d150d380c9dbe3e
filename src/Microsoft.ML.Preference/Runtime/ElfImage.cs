using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.Preference.Runtime;

/// <summary>
/// A minimal, bounds-checked reader (and in-place editor) of the symbol-versioning tables of a 64-bit
/// little-endian ELF shared library: .dynsym, .dynstr, .gnu.version, .gnu.version_r and .gnu.version_d.
/// It exists for one job: deciding whether libLibTorchSharp.so can run against the host's libstdc++ and,
/// where it cannot only because of a never-called symbol, weakening that one version requirement.
/// </summary>
internal sealed class ElfImage
{
    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;

    /// <summary>vna_flags bit that makes a missing version a warning instead of a load failure.</summary>
    internal const ushort VerFlagWeak = 0x2;

    /// <summary>Versym index meaning "global, unversioned".</summary>
    internal const ushort VersymGlobal = 1;

    private readonly byte[] _data;
    private readonly List<Section> _sections = new();

    public string Path { get; }

    private ElfImage(byte[] data, string path)
    {
        _data = data;
        Path = path;
    }

    /// <summary>The bytes the image was parsed from; edits through this class change them in place.</summary>
    public byte[] Bytes => _data;

    public static ElfImage Load(string path) => Parse(File.ReadAllBytes(path), path);

    public static ElfImage Parse(byte[] data, string path)
    {
        var image = new ElfImage(data, path);
        image.ReadSectionHeaders();
        return image;
    }

    private readonly record struct Section(uint Type, long Offset, long Size, uint Link, long EntrySize);

    /// <summary>One entry of .gnu.version_r: a version this library needs from <see cref="File"/>.</summary>
    public readonly record struct VersionNeed(string File, string Name, ushort Flags, ushort Index, long AuxOffset, long NeedOffset, long PreviousAuxOffset)
    {
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    /// <summary>One dynamic symbol with the versym slot that ties it to a version.</summary>
    public readonly record struct DynamicSymbol(string Name, bool IsDefined, ushort VersionIndex, long VersymOffset);

    private void ReadSectionHeaders()
    {
        if (_data.Length < 64 || _data[0] != 0x7f || _data[1] != (byte)'E' || _data[2] != (byte)'L' || _data[3] != (byte)'F')
            throw Bad("not an ELF file");
        if (_data[4] != 2 || _data[5] != 1)
            throw Bad("only 64-bit little-endian ELF files are supported");

        long shoff = (long)ReadU64(40);
        int shentsize = ReadU16(58);
        int shnum = ReadU16(60);
        if (shoff <= 0 || shnum == 0)
            throw Bad("the file has no section headers");
        if (shentsize < 64)
            throw Bad($"section header size {shentsize} is too small");
        CheckRange(shoff, (long)shentsize * shnum, "section header table");

        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + (long)i * shentsize;
            var section = new Section(
                Type: ReadU32(h + 4),
                Offset: (long)ReadU64(h + 24),
                Size: (long)ReadU64(h + 32),
                Link: ReadU32(h + 40),
                EntrySize: (long)ReadU64(h + 56));
            _sections.Add(section);
        }
    }

    private Section? Find(uint type)
    {
        foreach (var s in _sections)
            if (s.Type == type)
                return s;
        return null;
    }

    private Section Linked(Section s)
    {
        if (s.Link >= _sections.Count)
            throw Bad($"section link {s.Link} is out of range");
        var target = _sections[(int)s.Link];
        CheckRange(target.Offset, target.Size, "string table");
        return target;
    }

    /// <summary>Every version this library needs, with the file that must provide it.</summary>
    public IReadOnlyList<VersionNeed> VersionNeeds()
    {
        var result = new List<VersionNeed>();
        if (Find(ShtGnuVerneed) is not { } s)
            return result;
        CheckRange(s.Offset, s.Size, ".gnu.version_r");
        var strtab = Linked(s);
        long entry = s.Offset;
        for (int guard = 0; guard < 4096; guard++)
        {
            CheckRange(entry, 16, ".gnu.version_r entry");
            int count = ReadU16(entry + 2);
            string file = ReadString(strtab, ReadU32(entry + 4));
            long aux = entry + ReadU32(entry + 8);
            long previous = -1;
            for (int a = 0; a < count; a++)
            {
                CheckRange(aux, 16, ".gnu.version_r aux entry");
                result.Add(new VersionNeed(file, ReadString(strtab, ReadU32(aux + 8)), ReadU16(aux + 4), ReadU16(aux + 6), aux, entry, previous));
                previous = aux;
                uint nextAux = ReadU32(aux + 12);
                if (nextAux == 0)
                    break;
                aux += nextAux;
            }
            uint next = ReadU32(entry + 12);
            if (next == 0)
                return result;
            entry += next;
        }
        throw Bad(".gnu.version_r has too many entries");
    }

    /// <summary>Every version name this library defines (what a libstdc++ offers to others).</summary>
    public IReadOnlySet<string> VersionDefinitions()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (Find(ShtGnuVerdef) is not { } s)
            return result;
        CheckRange(s.Offset, s.Size, ".gnu.version_d");
        var strtab = Linked(s);
        long entry = s.Offset;
        for (int guard = 0; guard < 65536; guard++)
        {
            CheckRange(entry, 20, ".gnu.version_d entry");
            int count = ReadU16(entry + 6);
            long aux = entry + ReadU32(entry + 12);
            if (count > 0)
            {
                CheckRange(aux, 8, ".gnu.version_d aux entry");
                result.Add(ReadString(strtab, ReadU32(aux)));
            }
            uint next = ReadU32(entry + 16);
            if (next == 0)
                return result;
            entry += next;
        }
        throw Bad(".gnu.version_d has too many entries");
    }

    /// <summary>The dynamic symbols with their version index (from .gnu.version).</summary>
    public IReadOnlyList<DynamicSymbol> DynamicSymbols()
    {
        var result = new List<DynamicSymbol>();
        if (Find(ShtDynsym) is not { } dynsym || Find(ShtGnuVersym) is not { } versym)
            return result;
        CheckRange(dynsym.Offset, dynsym.Size, ".dynsym");
        CheckRange(versym.Offset, versym.Size, ".gnu.version");
        var strtab = Linked(dynsym);
        long entrySize = dynsym.EntrySize == 0 ? 24 : dynsym.EntrySize;
        if (entrySize < 24)
            throw Bad($".dynsym entry size {entrySize} is too small");
        long count = dynsym.Size / entrySize;
        if (versym.Size < count * 2)
            throw Bad(".gnu.version is shorter than .dynsym");
        for (long i = 0; i < count; i++)
        {
            long sym = dynsym.Offset + i * entrySize;
            long slot = versym.Offset + i * 2;
            result.Add(new DynamicSymbol(ReadString(strtab, ReadU32(sym)), ReadU16(sym + 6) != 0, ReadU16(slot), slot));
        }
        return result;
    }

    /// <summary>Marks a needed version weak: a host without it then loads the library anyway.</summary>
    public void MarkWeak(VersionNeed need)
    {
        long at = need.AuxOffset + 4;
        CheckRange(at, 2, "vna_flags");
        BinaryPrimitives.WriteUInt16LittleEndian(_data.AsSpan((int)at, 2), (ushort)(ReadU16(at) | VerFlagWeak));
    }

    /// <summary>
    /// Unlinks a needed version from its file's chain in .gnu.version_r (vn_cnt and the neighbouring
    /// next-offsets are adjusted), so neither the loader nor ldd looks for it any more. The entry's bytes
    /// stay where they were, marked weak, so an image patched this way keeps its size and layout.
    /// </summary>
    public void RemoveNeed(VersionNeed need)
    {
        MarkWeak(need);
        uint next = ReadU32(need.AuxOffset + 12);
        if (need.PreviousAuxOffset < 0)
        {
            // First in the chain: vn_aux moves on to the following entry.
            uint first = ReadU32(need.NeedOffset + 8);
            WriteU32(need.NeedOffset + 8, next == 0 ? first : first + next);
        }
        else
        {
            WriteU32(need.PreviousAuxOffset + 12, next == 0 ? 0 : ReadU32(need.PreviousAuxOffset + 12) + next);
        }
        WriteU16(need.NeedOffset + 2, (ushort)(ReadU16(need.NeedOffset + 2) - 1));
    }

    private void WriteU16(long at, ushort value)
    {
        CheckRange(at, 2, "field");
        BinaryPrimitives.WriteUInt16LittleEndian(_data.AsSpan((int)at, 2), value);
    }

    private void WriteU32(long at, uint value)
    {
        CheckRange(at, 4, "field");
        BinaryPrimitives.WriteUInt32LittleEndian(_data.AsSpan((int)at, 4), value);
    }

    /// <summary>Drops a symbol's version binding so the loader looks it up unversioned (lazily, if ever).</summary>
    public void ClearVersion(DynamicSymbol symbol)
    {
        CheckRange(symbol.VersymOffset, 2, ".gnu.version slot");
        BinaryPrimitives.WriteUInt16LittleEndian(_data.AsSpan((int)symbol.VersymOffset, 2), VersymGlobal);
    }

    private string ReadString(Section strtab, uint offset)
    {
        if (offset >= strtab.Size)
            throw Bad($"string offset {offset} is outside its string table");
        int start = checked((int)(strtab.Offset + offset));
        int end = start;
        int limit = checked((int)(strtab.Offset + strtab.Size));
        while (end < limit && _data[end] != 0)
            end++;
        if (end == limit)
            throw Bad("unterminated string in string table");
        return Encoding.UTF8.GetString(_data, start, end - start);
    }

    private void CheckRange(long offset, long length, string what)
    {
        if (offset < 0 || length < 0 || offset > _data.Length || length > _data.Length - offset)
            throw Bad($"{what} (offset {offset}, {length} bytes) lies outside the file ({_data.Length} bytes)");
    }

    private ushort ReadU16(long at)
    {
        CheckRange(at, 2, "field");
        return BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan((int)at, 2));
    }

    private uint ReadU32(long at)
    {
        CheckRange(at, 4, "field");
        return BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan((int)at, 4));
    }

    private ulong ReadU64(long at)
    {
        CheckRange(at, 8, "field");
        return BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan((int)at, 8));
    }

    private InvalidDataException Bad(string problem) => new($"{Path}: {problem}.");
}
