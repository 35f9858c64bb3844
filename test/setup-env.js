// Quiet structured logs and SDK notices in tests.
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL || 'SILENT';
process.env.AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING = 'true';
