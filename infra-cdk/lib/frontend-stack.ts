import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWarning, BaseStack, BaseStackProps } from './base-stack';
import { TenantConfig } from './config';

/** Path prefixes of versioned, immutable assets (file names carry the version). */
export const VERSIONED_ASSET_PATHS = ['/js/*', '/css/*', '/img/*', '/fonts/*'];
export const DIRECTORY_INDEX_FUNCTION_FILE = path.join(__dirname, '..', 'lambda', 'cloudfront', 'directory-index.js');

export interface FrontendStackProps extends BaseStackProps {
  readonly tenant: TenantConfig;
  readonly deployRole: iam.IRole;
}

/**
 * The tenant's static storefront: a private, versioned S3 bucket read only by
 * CloudFront through Origin Access Control. Files are uploaded by the ops
 * tooling (not by `cdk deploy`) so the storefront keeps its own release cycle.
 *
 * Caching: pages (HTML, extensionless paths) are never cached at the edge, so
 * a release shows at once without invalidating anything; versioned assets
 * under VERSIONED_ASSET_PATHS are cached as long as their Cache-Control says.
 */
export class FrontendStack extends BaseStack {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: FrontendStackProps) {
    super(scope, id, props);
    const tenant = props.tenant;

    const logBucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(logBucket, {
      id: 'S1',
      reason: 'This bucket receives the CloudFront and S3 access logs; logging access to the log bucket itself would only log the log deliveries.',
    });

    this.bucket = new s3.Bucket(this, 'Site', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Versions allow restoring a previous storefront release; old versions expire.
      versioned: true,
      lifecycleRules: [
        { noncurrentVersionExpiration: Duration.days(30) },
        { abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: 's3/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const directoryIndex = new cloudfront.Function(this, 'DirectoryIndex', {
      comment: 'Maps directory and extensionless paths to <path>/index.html',
      code: cloudfront.FunctionCode.fromFile({ filePath: DIRECTORY_INDEX_FUNCTION_FILE }),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    const certificate = tenant.webCertificateArn
      ? acm.Certificate.fromCertificateArn(this, 'WebCertificate', tenant.webCertificateArn)
      : new acm.Certificate(this, 'WebCertificate', {
          domainName: tenant.webDomain,
          // DNS is not in Route 53: the deploy waits for the validation CNAME.
          validation: acm.CertificateValidation.fromDns(),
        });

    // READ + LIST: with ListBucket a missing key is a 404 (not a 403), so the
    // error page mapping below actually fires.
    const origin = origins.S3BucketOrigin.withOriginAccessControl(this.bucket, {
      originAccessLevels: [cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
    });

    const assetBehavior: cloudfront.BehaviorOptions = {
      origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
      responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
      compress: true,
    };

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${props.config.prefix} ${tenant.name} storefront`,
      domainNames: [tenant.webDomain],
      certificate,
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultRootObject: 'index.html',
      enableLogging: true,
      logBucket,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        // Pages: always fetched from S3, so a storefront release is live at once.
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: true,
        functionAssociations: [{ function: directoryIndex, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
      additionalBehaviors: Object.fromEntries(VERSIONED_ASSET_PATHS.map((p) => [p, assetBehavior])),
      errorResponses: [{ httpStatus: 404, responseHttpStatus: 404, responsePagePath: '/error.html', ttl: Duration.minutes(1) }],
    });
    acknowledge(
      this.distribution,
      {
        id: 'CFR1',
        reason: 'The storefront sells to any country; there is no jurisdiction to block.',
      },
      {
        id: 'CFR2',
        reason: 'Static, public, read-only content behind OAC; a WAF web ACL (from about $6/month per tenant) protects nothing that CloudFront and S3 do not already. Revisit when the storefront gets dynamic routes.',
      },
    );

    acknowledgeWarning(
      this.distribution,
      '@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk',
      'LIST is granted on purpose so missing keys give 404 (error.html) instead of 403; defaultRootObject is set and the viewer-request function rewrites every directory path to an index.html, so no listing is ever returned.',
    );

    new iam.Policy(this, 'CiDeployPolicy', {
      roles: [props.deployRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'ListSite',
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'UploadSite',
          actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
          resources: [this.bucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'Invalidate',
          actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
          resources: [this.formatArn({ service: 'cloudfront', region: '', resource: 'distribution', resourceName: this.distribution.distributionId })],
        }),
      ],
    });
    acknowledge(this.node.findChild('CiDeployPolicy'), {
      id: `IAM5[Resource::${this.nagRef(this.bucket, 'Arn')}/*]`,
      reason: 'The storefront upload writes and prunes arbitrary object keys, but only inside this tenant\'s site bucket.',
    });

    const t = tenant.name;
    this.output(t, 'FrontendBucketName', this.bucket.bucketName, 'Storefront bucket (pages as <path>/index.html)');
    this.output(t, 'DistributionId', this.distribution.distributionId, 'CloudFront distribution id (invalidations)');
    this.output(t, 'DistributionDomainName', this.distribution.distributionDomainName, 'CloudFront domain (target of the storefront CNAME)');
    this.output(t, 'StorefrontUrl', `https://${tenant.webDomain}`, 'Public storefront URL');
  }
}
