using TorchSharp;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>Where a model lives, and choosing a device by name: the one place both are decided.</summary>
public static class Devices
{
    /// <summary>The device of the module's first parameter: every tensor fed to the module is created there.</summary>
    public static Device DeviceOf(nn.Module module) =>
        module.parameters().FirstOrDefault()?.device ?? throw new InvalidOperationException($"{module.GetName()} has no parameters, so no device");

    /// <summary>
    /// A device from "cpu", "cuda" or "cuda:N", checked against what this libtorch can run; a CUDA device
    /// without a CUDA libtorch is an <see cref="ArgumentException"/> saying so.
    /// </summary>
    public static Device Parse(string spec)
    {
        Device device;
        try { device = new Device(spec); }
        catch (Exception e) when (e is ArgumentException or FormatException) { throw new ArgumentException($"unknown device '{spec}': expected cpu, cuda or cuda:N"); }
        if (device.type == DeviceType.CUDA)
        {
            if (!cuda.is_available()) throw new ArgumentException($"device '{spec}': this build has no CUDA libtorch (or no GPU is visible); install a libtorch-cuda package and build with -p:LibTorchPackage=…");
            if (device.index >= cuda.device_count()) throw new ArgumentException($"device '{spec}': only {cuda.device_count()} CUDA device(s)");
        }
        return device;
    }
}
