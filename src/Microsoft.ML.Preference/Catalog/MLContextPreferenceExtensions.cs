namespace Microsoft.ML.Preference;

/// <summary>Hangs <see cref="PreferenceCatalog"/> off <see cref="MLContext"/> as <c>mlContext.Preference</c>.</summary>
public static class MLContextPreferenceExtensions
{
    extension(MLContext mlContext)
    {
        /// <summary>Preference optimization for vision-language models: trainers, data and evaluation.</summary>
        public PreferenceCatalog Preference => PreferenceCatalog.For(mlContext);
    }
}
