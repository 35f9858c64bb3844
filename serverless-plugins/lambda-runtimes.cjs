'use strict';
/**
 * Serverless Framework v3 plugin: teaches v3's configuration schema the Lambda runtimes it predates.
 *
 * serverless.yml sets `provider.runtime: nodejs22.x`, which AWS Lambda supports but the last v3 release (3.40.0)
 * does not list in its schema (`definitions.awsLambdaRuntime`, defined by the AWS provider through
 * `configSchemaHandler.defineProvider`), so every command printed "Invalid configuration encountered at
 * 'provider.runtime'". Validation stays on for everything else (no `configValidationMode: off`): this adds the
 * runtime values to that one enum of `serverless.configSchemaHandler`'s schema, before the configuration is
 * validated (plugins are constructed before `service.validate()`). A typo such as `nodejs222.x` is still reported.
 *
 * The configSchemaHandler's define* methods refuse to redefine a property the framework already defines
 * (https://www.serverless.com/framework/docs/guides/plugins/custom-configuration), hence the enum extension.
 */

/** Runtimes AWS Lambda supports that Serverless v3's schema does not know. */
const EXTRA_RUNTIMES = ['nodejs22.x'];

class LambdaRuntimesSchema {
  constructor(serverless) {
    const schema = serverless.configSchemaHandler && serverless.configSchemaHandler.schema;
    const runtime = schema && schema.definitions && schema.definitions.awsLambdaRuntime;
    if (!runtime || !Array.isArray(runtime.enum)) {
      throw new Error('lambda-runtimes plugin: this Serverless version has no awsLambdaRuntime enum to extend');
    }
    for (const r of EXTRA_RUNTIMES) if (!runtime.enum.includes(r)) runtime.enum.push(r);
  }
}

LambdaRuntimesSchema.EXTRA_RUNTIMES = EXTRA_RUNTIMES;
module.exports = LambdaRuntimesSchema;
