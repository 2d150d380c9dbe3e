using System.IO.MemoryMappedFiles;
using TorchSharp;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// A safetensors file opened for reading: its header is validated in full when it is opened, and each
/// tensor is copied from a memory map straight into the native memory of a new TorchSharp tensor.
/// </summary>
/// <remarks>
/// <para>
/// Layout: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON (padded with spaces),
/// then the raw little-endian tensor data; each tensor's <c>data_offsets</c> are relative to the data start.
/// </para>
/// <para>
/// Safety: <see cref="Open"/> refuses any file whose header length, JSON, dtypes, shapes or offsets do not
/// add up (an <see cref="InvalidDataException"/>, see <see cref="CheckpointFormatErrors"/>), so a hostile file fails with a message before
/// anything of a size it chose is allocated. Shards are never read into managed arrays.
/// </para>
/// <para>
/// <see cref="Read"/> and <see cref="CopyInto"/> may be called from several threads at once; none of them
/// may race with <see cref="Dispose"/>. The file should not be rewritten in place while it is open (writers
/// in this package replace files by rename, which leaves an open map intact).
/// </para>
/// </remarks>
internal sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly SafetensorsHeader _header;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _data;

    private SafetensorsFile(string path, SafetensorsHeader header, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* fileStart)
    {
        Path = path;
        _header = header;
        _map = map;
        _view = view;
        _data = fileStart + header.DataStart;
        _byName = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
        foreach (var t in header.Tensors)
            _byName.Add(t.Name, t);
        Names = Array.AsReadOnly(header.Tensors.Select(t => t.Name).ToArray());
        Tensors = _byName.AsReadOnly();
        Metadata = header.Metadata;
    }

    /// <summary>The path the file was opened with.</summary>
    public string Path { get; }

    /// <summary>Every tensor in the file by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The tensor names in the order their bytes appear in the file.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The header's <c>__metadata__</c> (usually <c>{"format": "pt"}</c>); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Total bytes of tensor data (the sum of every tensor's byte length).</summary>
    public long TotalTensorBytes => _header.Tensors.Sum(t => t.ByteLength);

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message says why.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this reader copies it unchanged and needs a little-endian host.");

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            var header = SafetensorsHeader.Read(stream, path);
            // The whole file is mapped read-only; pages are only touched when a tensor is read.
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            return new SafetensorsFile(path, header, map, view, start + view.PointerOffset);
        }
        catch
        {
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>True when the file holds a tensor of that name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of a tensor.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message names the file.</exception>
    public SafetensorsTensorInfo GetInfo(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"The safetensors file '{Path}' has no tensor '{name}'.");
    }

    /// <summary>
    /// Reads a tensor into a new tensor, converted to <paramref name="dtype"/> (as <c>Tensor.to</c> rounds)
    /// and moved to <paramref name="device"/> when those are given.
    /// </summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="dtype">The dtype wanted; null keeps the stored one.</param>
    /// <param name="device">Where the result lives; null means the CPU.</param>
    /// <returns>A new tensor that the caller owns (it joins the caller's dispose scope, if any).</returns>
    public torch.Tensor Read(string name, torch.ScalarType? dtype = null, torch.Device? device = null)
    {
        var info = GetInfo(name);
        using var scope = torch.NewDisposeScope();
        var stored = ReadStored(info);
        var result = ConvertAndMove(stored, dtype, device);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Copies a tensor into an existing one of the same shape (a module parameter, say), converting the dtype
    /// and device to the destination's. Runs without autograd, so it works on parameters that require grad.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes differ; the message names the tensor and both shapes.</exception>
    public void CopyInto(string name, torch.Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var info = GetInfo(name);
        if (!destination.shape.AsSpan().SequenceEqual(info.ShapeArray()))
            throw new ArgumentException(
                $"Cannot copy tensor '{name}' of shape {info.ShapeText} from '{Path}' into a destination of shape {SafetensorsTensorInfo.FormatShape(destination.shape)}.",
                nameof(destination));
        using var noGrad = torch.no_grad();
        if (destination.device_type == DeviceType.CPU && destination.dtype == info.ScalarType && destination.is_contiguous()
            && info.ScalarType != torch.ScalarType.Bool)
        {
            // Straight from the map into the destination's memory: no temporary the size of the tensor (a resumed full
            // fine-tune reads every weight this way).
            ObjectDisposedException.ThrowIf(_data is null, this);
            TensorBytes.CopyFrom((nint)(_data + info.DataBegin), info.ByteLength, destination);
            return;
        }
        using var scope = torch.NewDisposeScope();
        var stored = ReadStored(info);
        destination.copy_(stored);
    }

    /// <summary>Unmaps the file and closes it.</summary>
    public void Dispose()
    {
        if (_view is null)
            return;
        _data = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map?.Dispose();
        _view = null;
        _map = null;
    }

    /// <summary>A new CPU tensor in the stored dtype, filled from the map.</summary>
    private torch.Tensor ReadStored(SafetensorsTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_data is null, this);
        byte* source = _data + info.DataBegin;
        if (info.ScalarType == torch.ScalarType.Bool)
            CheckBooleans(info, source);
        var tensor = FreshCpuTensor(info.ShapeArray(), info.ScalarType);
        TensorBytes.CopyFrom((nint)source, info.ByteLength, tensor);
        return tensor;
    }

    /// <summary>
    /// An uninitialised CPU tensor about to be written in full, on huge pages where the kernel allows: a page fault per
    /// 4 KiB made most of a large load's time (<see cref="Runtime.HugePages"/>).
    /// </summary>
    private static torch.Tensor FreshCpuTensor(long[] shape, torch.ScalarType dtype)
    {
        var tensor = torch.empty(shape, dtype: dtype, device: torch.CPU);
        long bytes = tensor.numel() * tensor.element_size();
        if (bytes > 0)
            Runtime.HugePages.Advise(TensorBytes.Address(tensor), bytes);
        return tensor;
    }

    /// <summary>
    /// A bool byte other than 0 or 1 is undefined behaviour in libtorch kernels, so such bytes are refused
    /// rather than handed over.
    /// </summary>
    private void CheckBooleans(SafetensorsTensorInfo info, byte* source)
    {
        for (long i = 0; i < info.ByteLength; i++)
        {
            if (source[i] > 1)
                throw CheckpointFormatErrors.Create(Path, info.Name, $"BOOL element {i} has the byte value {source[i]}; only 0 and 1 are booleans");
        }
    }

    /// <summary>
    /// Applies the dtype and device changes in the cheaper order: a narrowing conversion first (less to
    /// move), a widening one after the move (less to move, and done on the faster device).
    /// </summary>
    private static torch.Tensor ConvertAndMove(torch.Tensor tensor, torch.ScalarType? dtype, torch.Device? device)
    {
        bool convert = dtype is { } d && d != tensor.dtype;
        bool move = device is not null && device.type != DeviceType.CPU;
        if (convert && (!move || SafetensorsDTypes.TryGetElementSize(dtype!.Value, out int size) && size <= tensor.element_size()))
        {
            // As Tensor.to converts (it is a copy_ into a new tensor), into memory on huge pages.
            var converted = FreshCpuTensor(tensor.shape, dtype!.Value);
            converted.copy_(tensor);
            tensor = converted;
            convert = false;
        }
        if (move)
            tensor = tensor.to(device!);
        if (convert)
            tensor = tensor.to(dtype!.Value);
        return tensor;
    }
}
