"""Message tables of `k8s.io/api/core/v1` for the protobuf decoder (the DSL is described in `protobuf_schemas`).

Field numbers and names are facts of the Kubernetes API (`core/v1/generated.proto`); the `!` marks
(keep a zero value) follow the Go types: pointers, and tags without `omitempty`. Everything a PodSpec
can hold is here - kubectl's encoding carries whatever the object has - plus the spec/status of the
core kinds `kubectl create` posts. Known gaps (1.37 fields whose numbers were not available): PodSpec
`evictionResponders` and `schedulingGroup`, PodStatus `nodeAllocatableResourceClaimStatuses` and
`volumeHealth`; a body carrying them fails loudly with the field number, nothing is dropped.
"""

from __future__ import annotations

_CONTAINER = """
    1:name:s! 2:image 3:command:[]s 4:args:[]s 5:workingDir 6:ports:[]ContainerPort 19:envFrom:[]EnvFromSource
    7:env:[]EnvVar 8:resources:ResourceRequirements 23:resizePolicy:[]ContainerResizePolicy 24:restartPolicy:s!
    25:restartPolicyRules:[]ContainerRestartRule 9:volumeMounts:[]VolumeMount 21:volumeDevices:[]VolumeDevice
    10:livenessProbe:Probe 11:readinessProbe:Probe 22:startupProbe:Probe 12:lifecycle:Lifecycle
    13:terminationMessagePath 20:terminationMessagePolicy 14:imagePullPolicy 15:securityContext:SecurityContext
    16:stdin:b 17:stdinOnce:b 18:tty:b
"""
_LOCAL_REF = "1:localObjectReference:^LocalObjectReference"

CORE_MESSAGES: dict[str, str] = {
    # ---------------------------------------------------------------- pods, templates and containers
    "Pod": "1:metadata:ObjectMeta 2:spec:PodSpec 3:status:PodStatus",
    "PodTemplateSpec": "1:metadata:ObjectMeta 2:spec:PodSpec",
    "PodSpec": """
        1:volumes:[]Volume 20:initContainers:[]Container 2:containers:[]Container
        34:ephemeralContainers:[]EphemeralContainer 3:restartPolicy 4:terminationGracePeriodSeconds:i64!
        5:activeDeadlineSeconds:i64! 6:dnsPolicy 7:nodeSelector:{}s 8:serviceAccountName 9:serviceAccount
        21:automountServiceAccountToken:b! 10:nodeName 11:hostNetwork:b 12:hostPID:b 13:hostIPC:b
        27:shareProcessNamespace:b! 14:securityContext:PodSecurityContext
        15:imagePullSecrets:[]LocalObjectReference 16:hostname 17:subdomain 18:affinity:Affinity
        19:schedulerName 22:tolerations:[]Toleration 23:hostAliases:[]HostAlias 24:priorityClassName
        25:priority:i32! 26:dnsConfig:PodDNSConfig 28:readinessGates:[]PodReadinessGate 29:runtimeClassName:s!
        30:enableServiceLinks:b! 31:preemptionPolicy:s! 32:overhead:{}q
        33:topologySpreadConstraints:[]TopologySpreadConstraint 35:setHostnameAsFQDN:b! 36:os:PodOS
        37:hostUsers:b! 38:schedulingGates:[]PodSchedulingGate 39:resourceClaims:[]PodResourceClaim
        40:resources:ResourceRequirements 41:hostnameOverride:s!
    """,
    "Container": _CONTAINER,
    "EphemeralContainer": "1:ephemeralContainerCommon:^EphemeralContainerCommon 2:targetContainerName",
    "EphemeralContainerCommon": _CONTAINER,
    "ContainerPort": "1:name 2:hostPort:i32 3:containerPort:i32! 4:protocol 5:hostIP",
    "ContainerResizePolicy": "1:resourceName:s! 2:restartPolicy:s!",
    "ContainerRestartRule": "1:action:s! 2:exitCodes:ContainerRestartRuleOnExitCodes",
    "ContainerRestartRuleOnExitCodes": "1:operator:s! 2:values:[]i32",
    "EnvFromSource": "1:prefix 2:configMapRef:ConfigMapEnvSource 3:secretRef:SecretEnvSource",
    "ConfigMapEnvSource": f"{_LOCAL_REF} 2:optional:b!",
    "SecretEnvSource": f"{_LOCAL_REF} 2:optional:b!",
    "EnvVar": "1:name:s! 2:value 3:valueFrom:EnvVarSource",
    "EnvVarSource": """
        1:fieldRef:ObjectFieldSelector 2:resourceFieldRef:ResourceFieldSelector
        3:configMapKeyRef:ConfigMapKeySelector 4:secretKeyRef:SecretKeySelector 5:fileKeyRef:FileKeySelector
    """,
    "ObjectFieldSelector": "1:apiVersion 2:fieldPath:s!",
    "ResourceFieldSelector": "1:containerName 2:resource:s! 3:divisor:q",
    "ConfigMapKeySelector": f"{_LOCAL_REF} 2:key:s! 3:optional:b!",
    "SecretKeySelector": f"{_LOCAL_REF} 2:key:s! 3:optional:b!",
    "FileKeySelector": "1:volumeName:s! 2:path:s! 3:key:s! 4:optional:b!",
    "LocalObjectReference": "1:name",
    "ResourceRequirements": "1:limits:{}q 2:requests:{}q 3:claims:[]ResourceClaim",
    "ResourceClaim": "1:name:s! 2:request",
    "VolumeMount": """
        1:name:s! 2:readOnly:b 7:recursiveReadOnly:s! 3:mountPath:s! 4:subPath 5:mountPropagation:s!
        6:subPathExpr
    """,
    "VolumeDevice": "1:name:s! 2:devicePath:s!",
    # ---------------------------------------------------------------- probes and lifecycle hooks
    "Probe": """
        1:handler:^ProbeHandler 2:initialDelaySeconds:i32 3:timeoutSeconds:i32 4:periodSeconds:i32
        5:successThreshold:i32 6:failureThreshold:i32 7:terminationGracePeriodSeconds:i64!
    """,
    "ProbeHandler": "1:exec:ExecAction 2:httpGet:HTTPGetAction 3:tcpSocket:TCPSocketAction 4:grpc:GRPCAction",
    "ExecAction": "1:command:[]s",
    "HTTPGetAction": "1:path 2:port:ios 3:host 4:scheme 5:httpHeaders:[]HTTPHeader",
    "HTTPHeader": "1:name:s! 2:value:s!",
    "TCPSocketAction": "1:port:ios 2:host",
    "GRPCAction": "1:port:i32! 2:service:s!",
    "Lifecycle": "1:postStart:LifecycleHandler 2:preStop:LifecycleHandler 3:stopSignal:s!",
    "LifecycleHandler": """
        1:exec:ExecAction 2:httpGet:HTTPGetAction 3:tcpSocket:TCPSocketAction 4:sleep:SleepAction
    """,
    "SleepAction": "1:seconds:i64!",
    # ---------------------------------------------------------------- security
    "SecurityContext": """
        1:capabilities:Capabilities 2:privileged:b! 3:seLinuxOptions:SELinuxOptions
        10:windowsOptions:WindowsSecurityContextOptions 4:runAsUser:i64! 8:runAsGroup:i64! 5:runAsNonRoot:b!
        6:readOnlyRootFilesystem:b! 7:allowPrivilegeEscalation:b! 9:procMount:s!
        11:seccompProfile:SeccompProfile 12:appArmorProfile:AppArmorProfile
    """,
    "PodSecurityContext": """
        1:seLinuxOptions:SELinuxOptions 8:windowsOptions:WindowsSecurityContextOptions 2:runAsUser:i64!
        6:runAsGroup:i64! 3:runAsNonRoot:b! 4:supplementalGroups:[]i64 12:supplementalGroupsPolicy:s!
        5:fsGroup:i64! 7:sysctls:[]Sysctl 9:fsGroupChangePolicy:s! 10:seccompProfile:SeccompProfile
        11:appArmorProfile:AppArmorProfile 13:seLinuxChangePolicy:s!
    """,
    "Capabilities": "1:add:[]s 2:drop:[]s",
    "SELinuxOptions": "1:user 2:role 3:type 4:level",
    "WindowsSecurityContextOptions": """
        1:gmsaCredentialSpecName:s! 2:gmsaCredentialSpec:s! 3:runAsUserName:s! 4:hostProcess:b!
    """,
    "SeccompProfile": "1:type:s! 2:localhostProfile:s!",
    "AppArmorProfile": "1:type:s! 2:localhostProfile:s!",
    "Sysctl": "1:name:s! 2:value:s!",
    # ---------------------------------------------------------------- scheduling
    "Toleration": "1:key 2:operator 3:value 4:effect 5:tolerationSeconds:i64!",
    "HostAlias": "1:ip:s! 2:hostnames:[]s",
    "PodDNSConfig": "1:nameservers:[]s 2:searches:[]s 3:options:[]PodDNSConfigOption",
    "PodDNSConfigOption": "1:name 2:value:s!",
    "PodReadinessGate": "1:conditionType:s!",
    "PodOS": "1:name:s!",
    "PodSchedulingGate": "1:name:s!",
    "PodResourceClaim": "1:name:s! 3:resourceClaimName:s! 4:resourceClaimTemplateName:s!",
    "TopologySpreadConstraint": """
        1:maxSkew:i32! 2:topologyKey:s! 3:whenUnsatisfiable:s! 4:labelSelector:LabelSelector
        5:minDomains:i32! 6:nodeAffinityPolicy:s! 7:nodeTaintsPolicy:s! 8:matchLabelKeys:[]s
    """,
    "Affinity": "1:nodeAffinity:NodeAffinity 2:podAffinity:PodAffinity 3:podAntiAffinity:PodAntiAffinity",
    "NodeAffinity": """
        1:requiredDuringSchedulingIgnoredDuringExecution:NodeSelector
        2:preferredDuringSchedulingIgnoredDuringExecution:[]PreferredSchedulingTerm
    """,
    "NodeSelector": "1:nodeSelectorTerms:[]NodeSelectorTerm",
    "NodeSelectorTerm": "1:matchExpressions:[]NodeSelectorRequirement 2:matchFields:[]NodeSelectorRequirement",
    "NodeSelectorRequirement": "1:key:s! 2:operator:s! 3:values:[]s",
    "PreferredSchedulingTerm": "1:weight:i32! 2:preference:NodeSelectorTerm",
    "PodAffinity": """
        1:requiredDuringSchedulingIgnoredDuringExecution:[]PodAffinityTerm
        2:preferredDuringSchedulingIgnoredDuringExecution:[]WeightedPodAffinityTerm
    """,
    "PodAntiAffinity": """
        1:requiredDuringSchedulingIgnoredDuringExecution:[]PodAffinityTerm
        2:preferredDuringSchedulingIgnoredDuringExecution:[]WeightedPodAffinityTerm
    """,
    "PodAffinityTerm": """
        1:labelSelector:LabelSelector 2:namespaces:[]s 3:topologyKey:s! 4:namespaceSelector:LabelSelector
        5:matchLabelKeys:[]s 6:mismatchLabelKeys:[]s
    """,
    "WeightedPodAffinityTerm": "1:weight:i32! 2:podAffinityTerm:PodAffinityTerm",
    # ---------------------------------------------------------------- volumes
    "Volume": "1:name:s! 2:volumeSource:^VolumeSource",
    "VolumeSource": """
        1:hostPath:HostPathVolumeSource 2:emptyDir:EmptyDirVolumeSource
        3:gcePersistentDisk:GCEPersistentDiskVolumeSource 4:awsElasticBlockStore:AWSElasticBlockStoreVolumeSource
        5:gitRepo:GitRepoVolumeSource 6:secret:SecretVolumeSource 7:nfs:NFSVolumeSource 8:iscsi:ISCSIVolumeSource
        9:glusterfs:GlusterfsVolumeSource 10:persistentVolumeClaim:PersistentVolumeClaimVolumeSource
        11:rbd:RBDVolumeSource 12:flexVolume:FlexVolumeSource 13:cinder:CinderVolumeSource
        14:cephfs:CephFSVolumeSource 15:flocker:FlockerVolumeSource 16:downwardAPI:DownwardAPIVolumeSource
        17:fc:FCVolumeSource 18:azureFile:AzureFileVolumeSource 19:configMap:ConfigMapVolumeSource
        20:vsphereVolume:VsphereVirtualDiskVolumeSource 21:quobyte:QuobyteVolumeSource
        22:azureDisk:AzureDiskVolumeSource 23:photonPersistentDisk:PhotonPersistentDiskVolumeSource
        26:projected:ProjectedVolumeSource 24:portworxVolume:PortworxVolumeSource 25:scaleIO:ScaleIOVolumeSource
        27:storageos:StorageOSVolumeSource 28:csi:CSIVolumeSource 29:ephemeral:EphemeralVolumeSource
        30:image:ImageVolumeSource
    """,
    "HostPathVolumeSource": "1:path:s! 2:type:s!",
    "EmptyDirVolumeSource": "1:medium 2:sizeLimit:q",
    "GCEPersistentDiskVolumeSource": "1:pdName:s! 2:fsType 3:partition:i32 4:readOnly:b",
    "AWSElasticBlockStoreVolumeSource": "1:volumeID:s! 2:fsType 3:partition:i32 4:readOnly:b",
    "GitRepoVolumeSource": "1:repository:s! 2:revision 3:directory",
    "SecretVolumeSource": "1:secretName 2:items:[]KeyToPath 3:defaultMode:i32! 4:optional:b!",
    "NFSVolumeSource": "1:server:s! 2:path:s! 3:readOnly:b",
    "ISCSIVolumeSource": """
        1:targetPortal:s! 2:iqn:s! 3:lun:i32! 4:iscsiInterface 5:fsType 6:readOnly:b 7:portals:[]s
        8:chapAuthDiscovery:b 11:chapAuthSession:b 10:secretRef:LocalObjectReference 12:initiatorName:s!
    """,
    "GlusterfsVolumeSource": "1:endpoints:s! 2:path:s! 3:readOnly:b",
    "PersistentVolumeClaimVolumeSource": "1:claimName:s! 2:readOnly:b",
    "RBDVolumeSource": """
        1:monitors:[]s 2:image:s! 3:fsType 4:pool 5:user 6:keyring 7:secretRef:LocalObjectReference 8:readOnly:b
    """,
    "FlexVolumeSource": "1:driver:s! 2:fsType 3:secretRef:LocalObjectReference 4:readOnly:b 5:options:{}s",
    "CinderVolumeSource": "1:volumeID:s! 2:fsType 3:readOnly:b 4:secretRef:LocalObjectReference",
    "CephFSVolumeSource": """
        1:monitors:[]s 2:path 3:user 4:secretFile 5:secretRef:LocalObjectReference 6:readOnly:b
    """,
    "FlockerVolumeSource": "1:datasetName 2:datasetUUID",
    "DownwardAPIVolumeSource": "1:items:[]DownwardAPIVolumeFile 2:defaultMode:i32!",
    "DownwardAPIVolumeFile": """
        1:path:s! 2:fieldRef:ObjectFieldSelector 3:resourceFieldRef:ResourceFieldSelector 4:mode:i32!
    """,
    "FCVolumeSource": "1:targetWWNs:[]s 2:lun:i32! 3:fsType 4:readOnly:b 5:wwids:[]s",
    "AzureFileVolumeSource": "1:secretName:s! 2:shareName:s! 3:readOnly:b",
    "ConfigMapVolumeSource": f"{_LOCAL_REF} 2:items:[]KeyToPath 3:defaultMode:i32! 4:optional:b!",
    "VsphereVirtualDiskVolumeSource": "1:volumePath:s! 2:fsType 3:storagePolicyName 4:storagePolicyID",
    "QuobyteVolumeSource": "1:registry:s! 2:volume:s! 3:readOnly:b 4:user 5:group 6:tenant",
    "AzureDiskVolumeSource": """
        1:diskName:s! 2:diskURI:s! 3:cachingMode:s! 4:fsType:s! 5:readOnly:b! 6:kind:s!
    """,
    "PhotonPersistentDiskVolumeSource": "1:pdID:s! 2:fsType",
    "ProjectedVolumeSource": "1:sources:[]VolumeProjection 2:defaultMode:i32!",
    "VolumeProjection": """
        1:secret:SecretProjection 2:downwardAPI:DownwardAPIProjection 3:configMap:ConfigMapProjection
        4:serviceAccountToken:ServiceAccountTokenProjection 5:clusterTrustBundle:ClusterTrustBundleProjection
        6:podCertificate:PodCertificateProjection
    """,
    "SecretProjection": f"{_LOCAL_REF} 2:items:[]KeyToPath 4:optional:b!",
    "ConfigMapProjection": f"{_LOCAL_REF} 2:items:[]KeyToPath 4:optional:b!",
    "DownwardAPIProjection": "1:items:[]DownwardAPIVolumeFile",
    "ServiceAccountTokenProjection": "1:audience 2:expirationSeconds:i64! 3:path:s!",
    "ClusterTrustBundleProjection": """
        1:name:s! 2:signerName:s! 3:labelSelector:LabelSelector 5:optional:b! 4:path:s!
    """,
    "PodCertificateProjection": """
        1:signerName:s! 2:keyType:s! 3:maxExpirationSeconds:i32! 4:credentialBundlePath 5:keyPath
        6:certificateChainPath 7:userAnnotations:{}s
    """,
    "KeyToPath": "1:key:s! 2:path:s! 3:mode:i32!",
    "PortworxVolumeSource": "1:volumeID:s! 2:fsType 3:readOnly:b",
    "ScaleIOVolumeSource": """
        1:gateway:s! 2:system:s! 3:secretRef:LocalObjectReference 4:sslEnabled:b 5:protectionDomain
        6:storagePool 7:storageMode 8:volumeName 9:fsType 10:readOnly:b
    """,
    "StorageOSVolumeSource": """
        1:volumeName 2:volumeNamespace 3:fsType 4:readOnly:b 5:secretRef:LocalObjectReference
    """,
    "CSIVolumeSource": """
        1:driver:s! 2:readOnly:b! 3:fsType:s! 4:volumeAttributes:{}s 5:nodePublishSecretRef:LocalObjectReference
    """,
    "EphemeralVolumeSource": "1:volumeClaimTemplate:PersistentVolumeClaimTemplate",
    "PersistentVolumeClaimTemplate": "1:metadata:ObjectMeta 2:spec:PersistentVolumeClaimSpec",
    "PersistentVolumeClaimSpec": """
        1:accessModes:[]s 4:selector:LabelSelector 2:resources:VolumeResourceRequirements 3:volumeName
        5:storageClassName:s! 6:volumeMode:s! 7:dataSource:TypedLocalObjectReference
        8:dataSourceRef:TypedObjectReference 9:volumeAttributesClassName:s!
    """,
    "VolumeResourceRequirements": "1:limits:{}q 2:requests:{}q",
    "TypedLocalObjectReference": "1:apiGroup:s! 2:kind:s! 3:name:s!",
    "TypedObjectReference": "1:apiGroup:s! 2:kind:s! 3:name:s! 4:namespace:s!",
    "ImageVolumeSource": "1:reference 2:pullPolicy",
    # ---------------------------------------------------------------- pod status
    "PodStatus": """
        17:observedGeneration:i64 1:phase 2:conditions:[]PodCondition 3:message 4:reason 11:nominatedNodeName
        5:hostIP 16:hostIPs:[]HostIP 6:podIP 12:podIPs:[]PodIP 7:startTime:t
        10:initContainerStatuses:[]ContainerStatus 8:containerStatuses:[]ContainerStatus 9:qosClass
        13:ephemeralContainerStatuses:[]ContainerStatus 14:resize 15:resourceClaimStatuses:[]PodResourceClaimStatus
        18:extendedResourceClaimStatus:PodExtendedResourceClaimStatus 19:allocatedResources:{}q
        20:resources:ResourceRequirements
    """,
    "PodCondition": """
        1:type:s! 7:observedGeneration:i64 2:status:s! 3:lastProbeTime:t 4:lastTransitionTime:t 5:reason 6:message
    """,
    "HostIP": "1:ip:s!",
    "PodIP": "1:ip:s!",
    "ContainerStatus": """
        1:name:s! 2:state:ContainerState 3:lastState:ContainerState 4:ready:b! 5:restartCount:i32! 6:image:s!
        7:imageID:s! 8:containerID 9:started:b! 10:allocatedResources:{}q 11:resources:ResourceRequirements
        12:volumeMounts:[]VolumeMountStatus 13:user:ContainerUser 14:allocatedResourcesStatus:[]ResourceStatus
        15:stopSignal:s!
    """,
    "ContainerState": """
        1:waiting:ContainerStateWaiting 2:running:ContainerStateRunning 3:terminated:ContainerStateTerminated
    """,
    "ContainerStateWaiting": "1:reason 2:message",
    "ContainerStateRunning": "1:startedAt:t",
    "ContainerStateTerminated": """
        1:exitCode:i32! 2:signal:i32 3:reason 4:message 5:startedAt:t 6:finishedAt:t 7:containerID
    """,
    "VolumeMountStatus": "1:name:s! 2:mountPath:s! 3:readOnly:b 4:recursiveReadOnly:s! 5:volumeStatus:VolumeStatus",
    "VolumeStatus": "1:image:ImageVolumeStatus",
    "ImageVolumeStatus": "1:imageRef:s!",
    "ContainerUser": "1:linux:LinuxContainerUser",
    "LinuxContainerUser": "1:uid:i64! 2:gid:i64! 3:supplementalGroups:[]i64",
    "ResourceStatus": "1:name:s! 2:resources:[]ResourceHealth",
    "ResourceHealth": "1:resourceID:s! 2:health 6:message:s!",
    "PodResourceClaimStatus": "1:name:s! 2:resourceClaimName:s!",
    "PodExtendedResourceClaimStatus": "1:requestMappings:[]ContainerExtendedResourceRequest 2:resourceClaimName:s!",
    "ContainerExtendedResourceRequest": "1:containerName:s! 2:resourceName:s! 3:requestName:s!",
    # ---------------------------------------------------------------- services
    "Service": "1:metadata:ObjectMeta 2:spec:ServiceSpec 3:status:ServiceStatus",
    "ServiceSpec": """
        1:ports:[]ServicePort 2:selector:{}s 3:clusterIP 18:clusterIPs:[]s 4:type 5:externalIPs:[]s
        7:sessionAffinity 8:loadBalancerIP 9:loadBalancerSourceRanges:[]s 10:externalName
        11:externalTrafficPolicy 12:healthCheckNodePort:i32 13:publishNotReadyAddresses:b
        14:sessionAffinityConfig:SessionAffinityConfig 19:ipFamilies:[]s 17:ipFamilyPolicy:s!
        20:allocateLoadBalancerNodePorts:b! 21:loadBalancerClass:s! 22:internalTrafficPolicy:s!
        23:trafficDistribution:s!
    """,
    "ServicePort": "1:name 2:protocol 6:appProtocol:s! 3:port:i32! 4:targetPort:ios 5:nodePort:i32",
    "SessionAffinityConfig": "1:clientIP:ClientIPConfig",
    "ClientIPConfig": "1:timeoutSeconds:i32!",
    "ServiceStatus": "1:loadBalancer:LoadBalancerStatus 2:conditions:[]Condition",
    "LoadBalancerStatus": "1:ingress:[]LoadBalancerIngress",
    "LoadBalancerIngress": "1:ip 2:hostname 3:ipMode:s! 4:ports:[]PortStatus",
    "PortStatus": "1:port:i32! 2:protocol:s! 3:error:s!",
    # ---------------------------------------------------------------- config, namespaces, accounts, quota
    "ConfigMap": "1:metadata:ObjectMeta 4:immutable:b! 2:data:{}s 3:binaryData:{}by",
    "Secret": "1:metadata:ObjectMeta 5:immutable:b! 2:data:{}by 4:stringData:{}s 3:type",
    "Namespace": "1:metadata:ObjectMeta 2:spec:NamespaceSpec 3:status:NamespaceStatus",
    "NamespaceSpec": "1:finalizers:[]s",
    "NamespaceStatus": "1:phase 2:conditions:[]NamespaceCondition",
    "NamespaceCondition": "1:type:s! 2:status:s! 4:lastTransitionTime:t 5:reason 6:message",
    "ServiceAccount": """
        1:metadata:ObjectMeta 2:secrets:[]ObjectReference 3:imagePullSecrets:[]LocalObjectReference
        4:automountServiceAccountToken:b!
    """,
    "ObjectReference": "1:kind 2:namespace 3:name 4:uid 5:apiVersion 6:resourceVersion 7:fieldPath",
    "ResourceQuota": "1:metadata:ObjectMeta 2:spec:ResourceQuotaSpec 3:status:ResourceQuotaStatus",
    "ResourceQuotaSpec": "1:hard:{}q 2:scopes:[]s 3:scopeSelector:ScopeSelector",
    "ScopeSelector": "1:matchExpressions:[]ScopedResourceSelectorRequirement",
    "ScopedResourceSelectorRequirement": "1:scopeName:s! 2:operator:s! 3:values:[]s",
    "ResourceQuotaStatus": "1:hard:{}q 2:used:{}q",
}

CORE_KINDS: dict[str, str] = {
    kind: kind for kind in ("Pod", "Service", "ConfigMap", "Secret", "Namespace", "ServiceAccount", "ResourceQuota")
}
"""Top-level kinds of the core group (`apiVersion: v1`) the decoder accepts."""
